package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/functions/tsgen"
	"github.com/parley-chat/parley/internal/server"
)

// defaultAPIFile is where `parley codegen` writes, from the repository root.
const defaultAPIFile = "client-ts/src/api.ts"

func runCodegen(args []string) error {
	fl := flag.NewFlagSet("parley codegen", flag.ContinueOnError)
	out := fl.String("out", defaultAPIFile, `file to write the TypeScript API to; "-" writes to standard output`)
	check := fl.Bool("check", false, "write nothing; fail if the file differs from what would be generated")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("codegen: unexpected argument %q", fl.Arg(0))
	}
	src, err := tsgen.Generate(server.Functions(chat.Config{}))
	if err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	switch {
	case *out == "-":
		_, err = os.Stdout.Write(src)
		return err
	case *check:
		have, err := os.ReadFile(*out)
		if err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
		if !bytes.Equal(have, src) {
			return fmt.Errorf("codegen: %s is out of date: run `make generate`", *out)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	// Write a temporary file and rename it, so a failed write never
	// leaves half a file behind.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".api-*.ts")
	if err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(src); err != nil {
		tmp.Close()
		return fmt.Errorf("codegen: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("codegen: %w", err)
	}
	fmt.Fprintf(os.Stderr, "parley: wrote %s\n", *out)
	return nil
}
