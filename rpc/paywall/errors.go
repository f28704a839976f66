package paywall

import "errors"

// Why the paywall refused a request. Every refusal is a 402 with fresh
// terms; PaymentRequired.Error carries the error's text and Terms.Refused
// its Reason code.
var (
	ErrPaymentRequired = errors.New("payment required")
	ErrMalformed       = errors.New("malformed payment")
	ErrBadReceipt      = errors.New("receipt signature invalid")
	ErrWrongChain      = errors.New("receipt is for another chain or adjudicator")
	ErrWrongPayee      = errors.New("receipt is from another payee")
	ErrUnknownOffer    = errors.New("receipt pays no offer this paywall has open")
	ErrOfferUsed       = errors.New("offer already used")
	ErrUnderpaid       = errors.New("underpaid")
	ErrWrongItem       = errors.New("paid for another item")
	ErrUnknownStream   = errors.New("unknown stream")
	ErrBadStream       = errors.New("stream does not pay for this response")
	ErrStreamEnded     = errors.New("stream ended or stalled")
	ErrStreamInUse     = errors.New("stream already pays for another response")
	// ErrPaymentStopped is the cause a streamed response is cut with when
	// its stream stops paying.
	ErrPaymentStopped = errors.New("payments stopped")
	// ErrBusy: the paywall holds MaxOffers open offers (a 503, not a 402).
	ErrBusy = errors.New("too many open offers")
)

// Why a Transport did not pay.
var (
	ErrOverLimit     = errors.New("above the spending limit")
	ErrWrongAsset    = errors.New("terms in another asset than the limits")
	ErrNoChannel     = errors.New("no open channel with the payee")
	ErrNotReplayable = errors.New("request body cannot be sent again")
	ErrBadTerms      = errors.New("invalid payment terms")
	ErrAlreadyPaid   = errors.New("offer already paid")
)

// reasons maps refusals to the codes in Terms.Refused, most specific first.
var reasons = []struct {
	err  error
	code string
}{
	{ErrMalformed, "malformed"},
	{ErrBadReceipt, "bad_signature"},
	{ErrWrongChain, "wrong_chain"},
	{ErrWrongPayee, "wrong_payee"},
	{ErrUnknownOffer, "unknown_offer"},
	{ErrOfferUsed, "offer_used"},
	{ErrUnderpaid, "underpaid"},
	{ErrWrongItem, "wrong_item"},
	{ErrUnknownStream, "unknown_stream"},
	{ErrStreamInUse, "stream_in_use"},
	{ErrStreamEnded, "stream_ended"},
	{ErrBadStream, "bad_stream"},
	{ErrPaymentStopped, "payments_stopped"},
}

// Reason returns the code of a refusal ("offer_used", "underpaid", ...),
// or "" for none or an unknown error.
func Reason(err error) string {
	if err == nil || errors.Is(err, ErrPaymentRequired) {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return ""
}
