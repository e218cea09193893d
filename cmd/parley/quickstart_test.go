package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The README's quick-start snippet is examples/quickstart.mjs, verbatim.
const (
	quickstartFile   = "../../examples/quickstart.mjs"
	quickstartReadme = "../../README.md"
	// quickstartIntro is the README text the snippet's code block follows.
	quickstartIntro = "this is\n[examples/quickstart.mjs](examples/quickstart.mjs)"
)

// readmeQuickstart returns the first ```js block after quickstartIntro.
func readmeQuickstart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(quickstartReadme)
	require.NoError(t, err)
	readme := string(b)
	i := strings.Index(readme, quickstartIntro)
	require.GreaterOrEqual(t, i, 0, "README.md no longer introduces examples/quickstart.mjs with %q", quickstartIntro)
	rest := readme[i:]
	const open = "\n```js\n"
	j := strings.Index(rest, open)
	require.GreaterOrEqual(t, j, 0, "no ```js block after the quick-start introduction")
	rest = rest[j+len(open):]
	k := strings.Index(rest, "\n```\n")
	require.GreaterOrEqual(t, k, 0, "the quick-start ```js block is not closed")
	return rest[:k+1]
}

func TestREADMEQuickstartIsExamplesFile(t *testing.T) {
	file, err := os.ReadFile(quickstartFile)
	require.NoError(t, err)
	require.Equal(t, string(file), readmeQuickstart(t),
		"README.md's quick-start snippet must be examples/quickstart.mjs verbatim: copy the file into the block")
}

// TestQuickstartExample runs examples/quickstart.mjs, as the README says to,
// against a real `parley dev`: it must print the message it sent, as the
// subscription delivered it, and exit 0.
func TestQuickstartExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and node")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: scripts/ensure-deps.sh installs it")
	}
	examples, err := filepath.Abs("../../examples")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(examples, "node_modules", "convex")); err != nil {
		t.Skip("examples/node_modules is missing: run scripts/ensure-deps.sh (or cd examples && npm install)")
	}

	bin := os.Getenv("PARLEY_BIN")
	if bin == "" {
		bin = buildParley(t)
	}
	p := startDev(t, bin, filepath.Join(t.TempDir(), "data"))
	defer p.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "quickstart.mjs")
	cmd.Dir = examples
	cmd.Env = append(os.Environ(), "PARLEY_URL="+p.url, "PARLEY_TOKEN=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node quickstart.mjs:\n%s\nparley dev:\n%s", out, p.stderr)
	require.Regexp(t, `(?m)^subscribed to conv123456789: \d+ messages$`, string(out))
	require.Regexp(t, `(?m)^live update: John Doe: Hello from quickstart\.mjs at \S+$`, string(out))
}
