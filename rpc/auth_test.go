package rpc

import (
	"encoding/json"
	"testing"

	"github.com/tinypay/tinypay/apps"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// TestMethodScopesCoverTheAPI: every method of the control API is in the
// scope table (a new method must be classified), and nothing else is.
func TestMethodScopesCoverTheAPI(t *testing.T) {
	names := map[string]bool{}
	for _, m := range apiv1.Node_ServiceDesc.Methods {
		names[m.MethodName] = true
	}
	for _, s := range apiv1.Node_ServiceDesc.Streams {
		names[s.StreamName] = true
	}
	for n := range names {
		if _, ok := methodScopes[n]; !ok {
			t.Errorf("%s is not in methodScopes", n)
		}
	}
	for n := range methodScopes {
		if !names[n] {
			t.Errorf("methodScopes lists %s, which the API does not have", n)
		}
	}
	// Spot checks of the table: an app token pays, a view token reads,
	// neither signs offers, moves funds or takes a backup.
	for _, tc := range []struct {
		method string
		kind   apps.TokenKind
		want   bool
	}{
		{"Pay", apps.KindApp, true},
		{"Pay", apps.KindView, false},
		{"ListChannels", apps.KindView, true},
		{"ListChannels", apps.KindApp, false},
		{"SubscribeEvents", apps.KindView, true},
		{"CreateOffer", apps.KindView, false},
		{"WalletSend", apps.KindView, false},
		{"Backup", apps.KindView, false},
		{"Backup", apps.KindApp, false},
		{"CreateToken", apps.KindView, false},
	} {
		if got := methodScopes[tc.method].allows(tc.kind); got != tc.want {
			t.Errorf("%s by a %s token: allowed %v, want %v", tc.method, tc.kind, got, tc.want)
		}
	}
}

// TestGatewayBindsEveryMethod: the generated OpenAPI description (and so
// the gateway generated with it from api_http.yaml) has an operation for
// every method of the control API.
func TestGatewayBindsEveryMethod(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, p := range doc.Paths {
		for _, op := range p {
			ops[op.OperationID] = true
		}
	}
	for _, m := range apiv1.Node_ServiceDesc.Methods {
		if !ops["Node_"+m.MethodName] {
			t.Errorf("%s has no HTTP binding", m.MethodName)
		}
	}
	for _, s := range apiv1.Node_ServiceDesc.Streams {
		if !ops["Node_"+s.StreamName] {
			t.Errorf("%s has no HTTP binding", s.StreamName)
		}
	}
}
