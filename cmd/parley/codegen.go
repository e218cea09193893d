package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions/tsgen"
	"github.com/parley-chat/parley/internal/server"
)

// defaultAPIFile is where `parley codegen` writes, from the repository root.
const defaultAPIFile = "client-ts/src/api.ts"

func runCodegen(args []string) error {
	fl := flag.NewFlagSet("parley codegen", flag.ContinueOnError)
	out := fl.String("out", defaultAPIFile, `file to write the TypeScript API to; "-" writes to standard output`)
	convexDir := fl.String("convex-dir", "", "write a Convex app's DIR/_generated/api.js, api.d.ts and dataModel.d.ts instead, "+
		"so `import { api } from \"./convex/_generated/api\"` works against Parley")
	check := fl.Bool("check", false, "write nothing; fail if a file differs from what would be generated")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("codegen: unexpected argument %q", fl.Arg(0))
	}
	reg := server.Functions(chat.Config{}, nil, nil, nil)
	var files []generated
	if *convexDir != "" {
		out, err := tsgen.GenerateConvex(reg, server.Tables())
		if err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
		dir := filepath.Join(*convexDir, "_generated")
		for _, name := range slices.Sorted(maps.Keys(out)) {
			files = append(files, generated{filepath.Join(dir, name), out[name]})
		}
	} else {
		src, err := tsgen.Generate(reg)
		if err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
		if *out == "-" {
			_, err = os.Stdout.Write(src)
			return err
		}
		files = []generated{{*out, src}}
	}
	for _, f := range files {
		if *check {
			have, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("codegen: %w", err)
			}
			if !bytes.Equal(have, f.data) {
				return fmt.Errorf("codegen: %s is out of date: run `make generate`", f.path)
			}
			continue
		}
		if err := writeAtomic(f.path, f.data); err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
		fmt.Fprintf(os.Stderr, "parley: wrote %s\n", f.path)
	}
	return nil
}

// generated is one file codegen writes.
type generated struct {
	path string
	data []byte
}

// writeAtomic writes data to path through a temporary file renamed into
// place, so a failed write never leaves half a file behind.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".codegen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
