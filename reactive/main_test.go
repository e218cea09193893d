package reactive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/parley-chat/parley/internal/parleytest"
	"github.com/parley-chat/parley/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// callResult is the outcome of an HTTP API call.
type callResult struct {
	Value        json.RawMessage
	Failed       bool
	ErrorMessage string
	ErrorData    map[string]any
}

// call runs a function once on s through the HTTP API (POST /api/query or
// /api/mutation) with the token as bearer ("" for none).
func call(ctx context.Context, s *parleytest.Server, kind, token, path string, args any) (callResult, error) {
	rawArgs, err := json.Marshal(args)
	if err != nil {
		return callResult{}, err
	}
	if raw, ok := args.(json.RawMessage); ok {
		rawArgs = raw
	}
	body, _ := json.Marshal(map[string]any{"path": path, "format": "convex_encoded_json",
		"args": []json.RawMessage{rawArgs}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/"+kind, bytes.NewReader(body))
	if err != nil {
		return callResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return callResult{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return callResult{}, err
	}
	var out struct {
		Status       string          `json:"status"`
		Value        json.RawMessage `json:"value"`
		ErrorMessage string          `json:"errorMessage"`
		ErrorData    map[string]any  `json:"errorData"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return callResult{}, fmt.Errorf("%s %s: HTTP %d: %s", kind, path, resp.StatusCode, data)
	}
	switch {
	case resp.StatusCode == http.StatusOK && out.Status == "success":
		return callResult{Value: out.Value}, nil
	case resp.StatusCode == 560 && out.Status == "error":
		return callResult{Failed: true, ErrorMessage: out.ErrorMessage, ErrorData: out.ErrorData}, nil
	}
	return callResult{}, fmt.Errorf("%s %s: HTTP %d: %s", kind, path, resp.StatusCode, data)
}
