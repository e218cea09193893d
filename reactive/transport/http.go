package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/functions"
)

// The Convex HTTP API: POST /api/query, /api/mutation and /api/action, one
// function call per request, answered with its result or its error.

// callRequest is a call's body. Format is accepted and ignored: values
// are always JSON.
type callRequest struct {
	Path   string          `json:"path"`
	Args   json.RawMessage `json:"args"`
	Format string          `json:"format"`
}

// callResponse is a call's answer: the value on success, or the error.
type callResponse struct {
	Status       string          `json:"status"`
	Value        json.RawMessage `json:"value,omitempty"`
	ErrorMessage string          `json:"errorMessage,omitempty"`
	ErrorData    map[string]any  `json:"errorData,omitempty"`
	LogLines     []string        `json:"logLines"`
}

// statusUDFFailed is the HTTP status Convex uses for a function that ran
// and failed; the body carries the error.
const statusUDFFailed = 560

// identityFromHeader verifies the request's bearer token; no
// Authorization header means anonymous (nil, nil).
func (s *Server) identityFromHeader(r *http.Request) (*functions.Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, &functions.Error{Status: 401, Code: functions.CodeUnauthenticated, Message: "Authorization header must be \"Bearer <token>\""}
	}
	id, err := s.cfg.Verifier.Verify(r.Context(), token)
	if err != nil {
		return nil, &functions.Error{Status: 401, Code: functions.CodeUnauthenticated, Message: "Invalid token: " + err.Error()}
	}
	return id, nil
}

// writeCall answers a call with its value, or with its error as
// statusUDFFailed; an internal error is logged here and shown without its
// internals.
func (s *Server) writeCall(w http.ResponseWriter, value json.RawMessage, err error, path string) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		we, internal := functions.AsError(err)
		if internal {
			s.log.Log(context.Background(), functions.LogLevel(we), "call failed", slog.String("function", path), slog.Any("error", err))
		}
		w.WriteHeader(statusUDFFailed)
		json.NewEncoder(w).Encode(callResponse{Status: "error", ErrorMessage: we.Message, ErrorData: we.ErrorData(), LogLines: noLogLines}) //nolint:errcheck
		return
	}
	json.NewEncoder(w).Encode(callResponse{Status: "success", Value: value, LogLines: noLogLines}) //nolint:errcheck
}

// serveCall serves POST /api/query or /api/mutation. args may be the
// object itself or, as the sync protocol sends it, an array holding it.
func (s *Server) serveCall(kind functions.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req callRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageBytes))
		if err := dec.Decode(&req); err != nil || req.Path == "" {
			http.Error(w, `{"code":"BadJsonBody","message":"body must be {\"path\": string, \"args\": object}"}`, http.StatusBadRequest)
			return
		}
		args := req.Args
		if len(args) > 0 && args[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(args, &arr); err != nil {
				s.writeCall(w, nil, functions.Invalid("args must be an object"), req.Path)
				return
			}
			a, err := singleArg(arr)
			if err != nil {
				s.writeCall(w, nil, err, req.Path)
				return
			}
			args = a
		}
		id, err := s.identityFromHeader(r)
		if err != nil {
			s.writeCall(w, nil, err, req.Path)
			return
		}
		if kind == functions.KindQuery {
			v, err := s.cfg.Engine.Query(r.Context(), req.Path, args, id)
			s.writeCall(w, v, err, req.Path)
			return
		}
		res, err := s.cfg.Engine.Mutate(r.Context(), req.Path, args, id, functions.RequestKey{})
		s.writeCall(w, res.Value, err, req.Path)
	}
}

// QueryRoute is a plain GET endpoint for a query.
type QueryRoute struct {
	Path     string // a mux pattern's path, e.g. /api/transcript
	Function string // e.g. shared/support:getTranscript
	// Args names the query's string arguments taken from the request: a
	// {name} of Path, else the URL query parameter of that name (absent:
	// not passed). Nil: none.
	Args []string
	// File says the value is {filename, mimeType, content}, served as
	// that file to save (Content-Disposition: attachment) rather than as
	// JSON.
	File bool
}

// routeFile is a File route's value.
type routeFile struct {
	Filename string `json:"filename"`
	MimeType string `json:"mimeType"`
	Content  string `json:"content"`
}

// serveQueryGET answers GET on a QueryRoute: the query's value for the
// Authorization header's identity (anonymous without one), as the JSON
// body itself, not wrapped as POST /api/query wraps it, or as the file it
// names; a refusal is its status with {"code","message","status"}.
// Nothing is cached.
func (s *Server) serveQueryGET(q QueryRoute) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.identityFromHeader(r)
		var v json.RawMessage
		if err == nil {
			args := map[string]string{}
			for _, name := range q.Args {
				if pv := r.PathValue(name); pv != "" {
					args[name] = pv
				} else if r.URL.Query().Has(name) {
					args[name] = r.URL.Query().Get(name)
				}
			}
			raw, _ := json.Marshal(args)
			v, err = s.cfg.Engine.Query(r.Context(), q.Function, raw, id)
		}
		var file routeFile
		if err == nil && q.File {
			err = json.Unmarshal(v, &file)
		}
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			if _, internal := functions.AsError(err); internal {
				s.log.Error("call failed", slog.String("function", q.Function), slog.Any("error", err))
			}
			writeHTTPError(w, err)
			return
		}
		if q.File {
			w.Header().Set("Content-Type", file.MimeType)
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file.Filename}))
			w.Header().Set("X-Content-Type-Options", "nosniff")
			// An HTML file is the server's own page: it may run nothing.
			w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: http:; style-src 'unsafe-inline'")
			io.WriteString(w, file.Content) //nolint:errcheck // the client went away
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(v) //nolint:errcheck // the client went away
	}
}

// serveAction serves POST /api/action: Parley has no actions, so every
// call is answered as a function not found.
func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	var req callRequest
	json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageBytes)).Decode(&req) //nolint:errcheck
	s.writeCall(w, nil, &functions.Error{Status: 404, Code: functions.CodeFunctionNotFound,
		Message: fmt.Sprintf("Could not find function %q", req.Path)}, req.Path)
}
