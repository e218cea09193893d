package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"

	"github.com/parley-chat/parley/internal/webapp"
)

// defaultWebDir is where `make run` builds the web app (web/), relative to
// the working directory.
const defaultWebDir = "web/dist"

// mountWeb serves the web app built in dir at / on mux. A missing app is
// an error when the directory was asked for (explicit), and otherwise
// only noted. It returns the line the startup message shows.
func mountWeb(mux *http.ServeMux, dir string, explicit bool) (func(url string) string, error) {
	if dir == "" {
		return func(string) string { return "off (--web is empty)" }, nil
	}
	h, err := webapp.New(dir)
	if errors.Is(err, webapp.ErrNoIndex) && !explicit {
		return func(string) string {
			return fmt.Sprintf("not built (no %s/index.html here; \"make run\" builds it, or pass --web DIR)", dir)
		}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--web: %w (build it with \"npm run build\" in web/)", err)
	}
	h.Register(mux)
	return func(url string) string { return fmt.Sprintf("%s/  (from %s)", url, h.Dir()) }, nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
