package localcloud

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

// The error bodies below copy the shapes the real API answers with (taken from
// recorded scaleway-sdk-go and scaleway-cli cassettes), so that the SDK turns
// them into the same typed errors (*scw.ResourceNotFoundError,
// *scw.InvalidArgumentsError, ...) as it would against api.scaleway.com.

type notFoundBody struct {
	Type       string `json:"type"`
	Message    string `json:"message"`
	Resource   string `json:"resource"`
	ResourceID string `json:"resource_id"`
}

// writeNotFound answers 404 for a missing resource, e.g. resource
// "instance_server", "instance_ip", "instance_image", "volume" (block API) or
// "MarketplaceImage".
func writeNotFound(w http.ResponseWriter, resource, id string) {
	writeJSON(w, http.StatusNotFound, notFoundBody{
		Type:       "not_found",
		Message:    "resource is not found",
		Resource:   resource,
		ResourceID: id,
	})
}

type invalidArgumentsBody struct {
	Type    string                            `json:"type"`
	Message string                            `json:"message"`
	Details []scw.InvalidArgumentsErrorDetail `json:"details"`
}

// writeInvalidArgument answers 400 invalid_arguments for one argument; reason
// is one of "required", "format", "constraint", "unknown".
func writeInvalidArgument(w http.ResponseWriter, argument, reason, help string) {
	writeJSON(w, http.StatusBadRequest, invalidArgumentsBody{
		Type:    "invalid_arguments",
		Message: "invalid argument(s)",
		Details: []scw.InvalidArgumentsErrorDetail{{ArgumentName: argument, Reason: reason, HelpMessage: help}},
	})
}

type invalidRequestBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// writeInvalidRequest answers 400 invalid_request_error, which the instance
// API uses for actions refused in the current state ("server should be
// stopped"). The SDK surfaces it as a *scw.ResponseError carrying the message.
func writeInvalidRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, invalidRequestBody{
		Type:    "invalid_request_error",
		Message: fmt.Sprintf(format, args...),
	})
}

type transientStateBody struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	Resource     string `json:"resource"`
	ResourceID   string `json:"resource_id"`
	CurrentState string `json:"current_state"`
}

// writeTransientState answers 409 transient_state, as the API does for a
// resource in the middle of a change (the body of the recorded answers in
// terraform-provider-scaleway's
// internal/services/iam/testdata/group-membership-basic.cassette.yaml and
// internal/services/vpc/testdata/data-source-routes-basic.cassette.yaml;
// the SDK's scw/errors.go makes it a *scw.TransientStateError).
func writeTransientState(w http.ResponseWriter, resource, id, state string) {
	if state == "" {
		state = "updating"
	}
	writeJSON(w, http.StatusConflict, transientStateBody{
		Type:         "transient_state",
		Message:      "resource is in a transient state",
		Resource:     resource,
		ResourceID:   id,
		CurrentState: state,
	})
}

type preconditionBody struct {
	Type         string `json:"type"`
	Message      string `json:"message"`
	Precondition string `json:"precondition"`
	HelpMessage  string `json:"help_message"`
}

// writeStillInUse answers 412 precondition_failed/resource_still_in_use, as
// the block API does when an attached volume is deleted (the shape of
// terraform-provider-scaleway's
// internal/services/secret/testdata/secret-protected.cassette.yaml, with the
// precondition the SDK's scw/errors.go names resource_still_in_use; the SDK
// makes it a *scw.PreconditionFailedError).
func writeStillInUse(w http.ResponseWriter, help string) {
	writeJSON(w, http.StatusPreconditionFailed, preconditionBody{
		Type:         "precondition_failed",
		Message:      "precondition is not respected",
		Precondition: "resource_still_in_use",
		HelpMessage:  help,
	})
}

type deniedBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Method  string `json:"method"`
	Reason  string `json:"reason"`
}

// writeDenied answers 401 denied_authentication; reason is "invalid_argument"
// (missing or malformed X-Auth-Token) or "not_found" (unknown key).
func writeDenied(w http.ResponseWriter, reason string) {
	writeJSON(w, http.StatusUnauthorized, deniedBody{
		Type:    "denied_authentication",
		Message: "authentication is denied",
		Method:  "api_key",
		Reason:  reason,
	})
}

type quotaBody struct {
	Type    string                          `json:"type"`
	Message string                          `json:"message"`
	Details []scw.QuotasExceededErrorDetail `json:"details"`
}

func writeQuotaExceeded(w http.ResponseWriter, resource string, quota uint32) {
	writeJSON(w, http.StatusForbidden, quotaBody{
		Type:    "quotas_exceeded",
		Message: "quota(s) exceeded for this resource",
		Details: []scw.QuotasExceededErrorDetail{{Resource: resource, Quota: quota, Current: quota}},
	})
}

// writeJSON writes v with the given status. Encoding errors cannot be reported
// to the client any more once the header is out, so they are ignored.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeNoContent answers 204 like the real DELETE endpoints.
func writeNoContent(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
}
