package dashboard

import (
	"io"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// maxOfferBytes bounds the body of /offer/encode (an offer's JSON is a
// few hundred bytes).
const maxOfferBytes = 8 << 10

type encodedOfferJSON struct {
	// Offer is the compact string (apiutil.EncodeOffer, "tpo1..."), what
	// `tinypay offer create` prints and `tinypay pay --offer` takes.
	Offer string `json:"offer"`
}

// encodeOffer serves POST /offer/encode: an offer's JSON, as CreateOffer
// returned it, in; its compact string out, once its signature checks. It
// needs a session (and its CSRF token) like any action, though it reads
// and changes nothing: the page cannot encode protobuf itself.
func (h *Handler) encodeOffer(w http.ResponseWriter, r *http.Request) {
	if !onlyMethod(w, r, http.MethodPost, "POST an offer's JSON") {
		return
	}
	if _, status, msg := h.check(r); status != 0 {
		writeError(w, status, msg)
		return
	}
	apiutil.BodyDeadline(w, r, h.cfg.BodyTimeout)
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "offer: want its JSON, at most 8 KiB")
		return
	}
	o := &apiv1.Offer{}
	if err := protojson.Unmarshal(b, o); err != nil {
		writeError(w, http.StatusBadRequest, "offer: not an offer's JSON: "+err.Error())
		return
	}
	if err := apiutil.VerifyOffer(o); err != nil {
		writeError(w, http.StatusBadRequest, "offer: "+err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, encodedOfferJSON{Offer: apiutil.EncodeOffer(o)})
}
