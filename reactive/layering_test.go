package reactive_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// domains are the packages that hold an API of their own. The engine and
// the generic runtime serve every domain, so they import none.
var domains = []string{"chat", "support", "assistant", "events"}

// The engine (reactive/...) and the runtime (functions/...) know nothing
// of any domain: no package they import, directly or not, is one.
func TestEngineImportsNoDomain(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/parley-chat/parley/reactive/...", "github.com/parley-chat/parley/functions/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/parley-chat/parley/schema", "the listing covers Parley's packages")
	for _, dep := range deps {
		for _, d := range domains {
			p := "github.com/parley-chat/parley/" + d
			require.False(t, dep == p || strings.HasPrefix(dep, p+"/"), "the engine or the runtime imports the domain package %s", dep)
		}
	}
}
