package tsgen_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions"
	"github.com/parley-chat/parley/functions/tsgen"
	"github.com/parley-chat/parley/internal/server"
)

// TestCommittedAPIIsCurrent fails when client-ts/src/api.ts is not what
// the registry generates: CI catches a Go change without `make generate`.
func TestCommittedAPIIsCurrent(t *testing.T) {
	want, err := tsgen.Generate(server.Functions(chat.Config{}, nil, nil, nil))
	require.NoError(t, err)
	path := filepath.Join("..", "..", "client-ts", "src", "api.ts")
	have, err := os.ReadFile(path)
	require.NoError(t, err)
	if string(have) != string(want) {
		t.Fatalf("%s is out of date with the Go registry: run `make generate` and commit the result", path)
	}
}

// TestCommittedConvexAPIIsCurrent is the same for the Convex-style app's
// web/convex-app/convex/_generated (parley codegen --convex-dir).
func TestCommittedConvexAPIIsCurrent(t *testing.T) {
	files, err := tsgen.GenerateConvex(server.Functions(chat.Config{}, nil, nil, nil), server.Tables())
	require.NoError(t, err)
	dir := filepath.Join("..", "..", "web", "convex-app", "convex", "_generated")
	for name, want := range files {
		have, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		if string(have) != string(want) {
			t.Fatalf("%s is out of date with the Go registry: run `make generate` and commit the result", filepath.Join(dir, name))
		}
	}
}

// The Convex-style files: api.js is convex's anyApi (a reference is its
// path, as Convex's own codegen writes), api.d.ts types every function as
// public with its arguments and result, internal is empty.
func TestGenerateConvex(t *testing.T) {
	r := functions.NewRegistry()
	functions.Query(r, "items/search:find", func(*functions.QueryCtx, findArgs) ([]itemDoc, error) { return nil, nil })
	functions.Mutation(r, "items:touch", func(*functions.MutationCtx, noArgs) (functions.Null, error) { return functions.Null{}, nil })
	files, err := tsgen.GenerateConvex(r, []tsgen.Table{{Name: "items", Doc: reflect.TypeFor[itemDoc]()}})
	require.NoError(t, err)
	js, dts := files["api.js"], files["api.d.ts"]
	model := string(files["dataModel.d.ts"])
	require.Contains(t, model, `import type { itemDoc } from "./api";`)
	require.Contains(t, model, `"items": itemDoc;`)
	require.Contains(t, model, "export type Doc<TableName extends TableNames> = Documents[TableName];")
	require.Contains(t, model, `export type Id<TableName extends string = TableNames> = TableName extends string ? string : never;`)
	_, err = tsgen.GenerateConvex(r, []tsgen.Table{{Name: "others", Doc: reflect.TypeFor[findArgs]()}})
	require.NoError(t, err, "an argument type is named too")
	_, err = tsgen.GenerateConvex(r, []tsgen.Table{{Name: "nothing", Doc: reflect.TypeFor[struct{ X int }]()}})
	require.ErrorContains(t, err, "table nothing: no function returns its document type")
	require.Contains(t, string(js), `import { anyApi } from "convex/server";`)
	require.Contains(t, string(js), "export const api = anyApi;")
	require.Contains(t, string(js), "export const internal = anyApi;")
	out := string(dts)
	require.Contains(t, out, `import type { FunctionReference } from "convex/server";`)
	require.Contains(t, out, `find: FunctionReference<"query", "public", findArgs, itemDoc[]>;`)
	require.Contains(t, out, `touch: FunctionReference<"mutation", "public", noArgs, null>;`)
	require.Contains(t, out, "export declare const internal: {};")
	require.Contains(t, out, "export type itemDoc = {")
	require.NotContains(t, out, "makeFunctionReference", "a declaration file holds no values")
}

type itemDoc struct {
	ID    string   `json:"_id"`
	Score *float64 `json:"score"`          // always written, maybe null
	Note  *string  `json:"note,omitempty"` // absent when nil
	Tags  []string `json:"tags,omitempty"` // absent when empty
	Kind  string   `json:"kind" ts:"a|b"`  // literal union
	Blob  []byte   `json:"blob"`           // base64, as encoding/json writes it
	Extra map[string]int
	Inner struct {
		N int `json:"n"`
	} `json:"inner"`
	hidden int
	Skip   int `json:"-"`
}

type findArgs struct {
	Query  string    `json:"query"`
	Limit  *int      `json:"limit"`
	Kinds  *[]string `json:"kinds" ts:"a|b"`
	Cursor string    `json:"cursor,omitempty"`
}

type noArgs struct{}

func TestGenerateTypesFollowTheServersRules(t *testing.T) {
	r := functions.NewRegistry()
	functions.Query(r, "items/search:find", func(*functions.QueryCtx, findArgs) ([]itemDoc, error) { return nil, nil })
	functions.Mutation(r, "items:touch", func(*functions.MutationCtx, noArgs) (functions.Null, error) { return functions.Null{}, nil })
	src, err := tsgen.Generate(r)
	require.NoError(t, err)
	out := string(src)
	require.True(t, strings.HasPrefix(out, tsgen.Header+"\n"))

	for _, want := range []string{
		// arguments: pointers may be left out or be null; omitempty may be left out
		"export type findArgs = {\n  query: string;\n  limit?: number | null;\n  kinds?: \"a\" | \"b\" | null;\n  cursor?: string;\n};",
		// results: a pointer without omitempty is always there, maybe null
		"  score: number | null;\n",
		"  note?: string;\n",
		"  tags?: string[];\n",
		"  kind: \"a\" | \"b\";\n",
		"  blob: string;\n",
		"  Extra: Record<string, number>;\n",
		"  inner: {\n  n: number;\n};\n",
		"export type noArgs = Record<string, never>;",
		// nested by module path, sorted
		"export const api = {\n  items: {\n    search: {\n      /** query items/search:find */\n      find: makeFunctionReference<\"query\", findArgs, itemDoc[]>(\"items/search:find\"),\n    },\n    /** mutation items:touch */\n    touch: makeFunctionReference<\"mutation\", noArgs, null>(\"items:touch\"),\n  },\n} as const;",
		"  | \"not_found\"\n",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "hidden")
	require.NotContains(t, out, "Skip")

	again, err := tsgen.Generate(r)
	require.NoError(t, err)
	require.Equal(t, out, string(again), "generation must be deterministic")
}

type shared struct {
	P *string `json:"p"`
}

type badName struct {
	X int
}

type unsupported struct {
	C chan int `json:"c"`
}

func TestGenerateRejectsWhatHasNoTypeScriptForm(t *testing.T) {
	tests := []struct {
		name     string
		register func(r *functions.Registry)
		wantErr  string
	}{
		{"a struct read differently as argument and result", func(r *functions.Registry) {
			functions.Query(r, "m:f", func(*functions.QueryCtx, shared) (shared, error) { return shared{}, nil })
		}, "used in arguments and in results"},
		{"a channel", func(r *functions.Registry) {
			functions.Query(r, "m:f", func(*functions.QueryCtx, noArgs) (unsupported, error) { return unsupported{}, nil })
		}, "has no TypeScript form"},
		{"a name that is not an identifier", func(r *functions.Registry) {
			functions.Query(r, "my-module:f", func(*functions.QueryCtx, noArgs) (badName, error) { return badName{}, nil })
		}, "is not a TypeScript identifier"},
		{"a name without a module", func(r *functions.Registry) {
			functions.Query(r, "f", func(*functions.QueryCtx, noArgs) (badName, error) { return badName{}, nil })
		}, "must be module:function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := functions.NewRegistry()
			tt.register(r)
			_, err := tsgen.Generate(r)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

type loggedArgs struct {
	Page  chat.PaginationOpts `json:"paginationOpts" tstype:"PaginationOptions"`
	Steps []byte              `json:"steps" tstype:"{type: string, text?: string}[]"`
}

// A tstype tag naming a type imports it from convex/server; one that
// writes a type out is used as is, not imported.
func TestTSTypeWrittenOutIsNotImported(t *testing.T) {
	r := functions.NewRegistry()
	functions.Query(r, "items:logged", func(*functions.QueryCtx, loggedArgs) (functions.Null, error) { return functions.Null{}, nil })
	out, err := tsgen.Generate(r)
	require.NoError(t, err)
	src := string(out)
	require.Contains(t, src, `import type { PaginationOptions } from "convex/server";`)
	require.Contains(t, src, "steps: {type: string, text?: string}[];")
}
