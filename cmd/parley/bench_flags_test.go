package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/bench"
)

func TestParseBench(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, cfg bench.Config, o benchOptions)
		err   string
	}{
		{"defaults are the issue's sizes", nil, func(t *testing.T, cfg bench.Config, o benchOptions) {
			require.Equal(t, 10000, cfg.A.Sessions)
			require.Equal(t, []int{1000, 100000}, cfg.C.Idle)
			require.Nil(t, cfg.Scenarios)
			require.Equal(t, "http://127.0.0.1:3210", o.url)
			require.Equal(t, []string{"http://127.0.0.1:3210"}, o.urls)
		}, ""},
		{"url list, spaces trimmed, repeats kept", []string{"--url", "http://127.0.0.1:1, http://127.0.0.1:2/,http://127.0.0.1:1"},
			func(t *testing.T, _ bench.Config, o benchOptions) {
				require.Equal(t, []string{"http://127.0.0.1:1", "http://127.0.0.1:2/", "http://127.0.0.1:1"}, o.urls)
			}, ""},
		{"url without a scheme", []string{"--url", "http://127.0.0.1:1,127.0.0.1:2"}, nil, `--url: bad URL "127.0.0.1:2": want http:// or https://`},
		{"empty url in the list", []string{"--url", "http://127.0.0.1:1,,http://127.0.0.1:2"}, nil, `--url: URL 2 of`},
		{"trailing comma", []string{"--url", "http://127.0.0.1:1,"}, nil, `--url: URL 2 of "http://127.0.0.1:1," is empty`},
		{"url without a host", []string{"--url", "http://"}, nil, `--url: bad URL "http://": no host`},
		{"url with a query", []string{"--url", "http://127.0.0.1:1/?x=1"}, nil, "no query"},
		{"websocket url", []string{"--url", "ws://127.0.0.1:1"}, nil, "want http:// or https://"},
		{"quick scales down", []string{"--quick"}, func(t *testing.T, cfg bench.Config, _ benchOptions) {
			require.Equal(t, bench.Quick().A, cfg.A)
			require.Equal(t, bench.Quick().C.Idle, cfg.C.Idle)
		}, ""},
		{"explicit flags win over quick", []string{"--a-sessions", "300", "--quick", "--duration", "3s"},
			func(t *testing.T, cfg bench.Config, _ benchOptions) {
				require.Equal(t, 300, cfg.A.Sessions)
				require.Equal(t, bench.Quick().A.Conversations, cfg.A.Conversations)
				require.Equal(t, 3*time.Second, cfg.Duration)
			}, ""},
		{"scenario list", []string{"--scenario", "b,stall", "--c-idle", "5, 50"}, func(t *testing.T, cfg bench.Config, _ benchOptions) {
			require.Equal(t, []string{"b", "stall"}, cfg.Scenarios)
			require.Equal(t, []int{5, 50}, cfg.C.Idle)
		}, ""},
		{"e and search", []string{"--scenario", "e,search", "--e-viewers", "50", "--search-messages", "5000"},
			func(t *testing.T, cfg bench.Config, _ benchOptions) {
				require.Equal(t, []string{"e", "search"}, cfg.Scenarios)
				require.Equal(t, 50, cfg.E.Viewers)
				require.Equal(t, 5000, cfg.Search.Messages)
				require.Equal(t, bench.Defaults().Search.Conversations, cfg.Search.Conversations)
			}, ""},
		{"bad idle list", []string{"--c-idle", "1000,lots"}, nil, `--c-idle: bad number "lots"`},
		{"stray argument", []string{"a"}, nil, `unexpected argument "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, o, err := parseBench(tt.args, io.Discard)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg, o)
		})
	}
}
