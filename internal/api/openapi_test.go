package api

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// specPath is api/openapi.yaml relative to this package.
var specPath = filepath.Join("..", "..", "api", "openapi.yaml")

// extraRoutes are served by New outside the Routes table.
var extraRoutes = []string{"GET /metrics"}

// openAPISpec is the part of an OpenAPI 3 document these tests read.
type openAPISpec struct {
	OpenAPI  string                          `yaml:"openapi"`
	Security []map[string][]string           `yaml:"security"`
	Paths    map[string]map[string]yaml.Node `yaml:"paths"` // path -> method (or "parameters") -> node
	Comps    struct {
		Parameters map[string]openAPIParam `yaml:"parameters"`
		Schemas    map[string]struct {
			Properties map[string]struct {
				Enum []string `yaml:"enum"`
			} `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type openAPIParam struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type openAPIOp struct {
	Security   *[]map[string][]string `yaml:"security"` // nil: inherits the document's
	Parameters []openAPIParam         `yaml:"parameters"`
	Responses  map[string]yaml.Node   `yaml:"responses"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadSpec(t *testing.T) (openAPISpec, map[string]openAPIOp) {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read the OpenAPI spec: %v", err)
	}
	var spec openAPISpec
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatalf("parse %s: %v", specPath, err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.0.") {
		t.Fatalf("%s: openapi is %q, want 3.0.x", specPath, spec.OpenAPI)
	}
	ops := map[string]openAPIOp{} // "METHOD /path" -> operation
	for path, item := range spec.Paths {
		var shared []openAPIParam
		if n, ok := item["parameters"]; ok {
			if err := n.Decode(&shared); err != nil {
				t.Fatalf("%s: parameters of %s: %v", specPath, path, err)
			}
		}
		for key, n := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var op openAPIOp
			if err := n.Decode(&op); err != nil {
				t.Fatalf("%s: %s %s: %v", specPath, key, path, err)
			}
			op.Parameters = append(op.Parameters, shared...)
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return spec, ops
}

// routeAccess is the access level of every served route, the Routes table
// plus the routes New registers on its own.
func routeAccess() map[string]access {
	m := map[string]access{}
	for _, rt := range Routes {
		m[rt.Method+" "+rt.Path] = rt.access
	}
	for _, r := range extraRoutes {
		m[r] = public
	}
	return m
}

// TestOpenAPIRoutes checks that the spec describes exactly the routes the
// API serves, both ways.
func TestOpenAPIRoutes(t *testing.T) {
	_, ops := loadSpec(t)
	served := routeAccess()
	var missing, extra []string
	for r := range served {
		if _, ok := ops[r]; !ok {
			missing = append(missing, r)
		}
	}
	for r := range ops {
		if _, ok := served[r]; !ok {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s and the Routes table disagree:\n", specPath)
		for _, r := range missing {
			fmt.Fprintf(&b, "  - %s: served by the API but not in the spec\n", r)
		}
		for _, r := range extra {
			fmt.Fprintf(&b, "  + %s: in the spec but not served by the API\n", r)
		}
		t.Error(b.String())
	}
}

// TestOpenAPIAuthResponses checks that routes needing a token declare 401
// (and admin routes 403), and that the spec's security matches each route's
// access level.
func TestOpenAPIAuthResponses(t *testing.T) {
	spec, ops := loadSpec(t)
	if len(spec.Security) == 0 {
		t.Errorf("%s: no document-level security requirement", specPath)
	}
	for r, acc := range routeAccess() {
		op, ok := ops[r]
		if !ok {
			continue // reported by TestOpenAPIRoutes
		}
		open := op.Security != nil && len(*op.Security) == 0
		if acc == public {
			if !open {
				t.Errorf("%s is public but the spec does not declare `security: []` for it", r)
			}
			continue
		}
		if open {
			t.Errorf("%s needs a token but the spec declares `security: []` for it", r)
		}
		if _, ok := op.Responses["401"]; !ok {
			t.Errorf("%s needs a token but declares no 401 response", r)
		}
		if _, ok := op.Responses["403"]; acc == admin && !ok {
			t.Errorf("%s needs an admin token but declares no 403 response", r)
		}
	}
}

// TestOpenAPIPathParams checks that every {param} of a path template is
// declared as a path parameter.
func TestOpenAPIPathParams(t *testing.T) {
	spec, ops := loadSpec(t)
	resolve := func(p openAPIParam) (name, in string) {
		if ref, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			p = spec.Comps.Parameters[ref]
		}
		return p.Name, p.In
	}
	re := regexp.MustCompile(`\{([^}]+)\}`)
	for r, op := range ops {
		declared := map[string]bool{}
		for _, p := range op.Parameters {
			if name, in := resolve(p); in == "path" {
				declared[name] = true
			}
		}
		for _, m := range re.FindAllStringSubmatch(r, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", r, m[1])
			}
		}
	}
}

// TestOpenAPIErrorCodes checks that the Error schema's code enum lists
// exactly the codes writeError maps to a status.
func TestOpenAPIErrorCodes(t *testing.T) {
	spec, _ := loadSpec(t)
	got := slices.Clone(spec.Comps.Schemas["Error"].Properties["code"].Enum)
	var want []string
	for code := range statusOf {
		want = append(want, code)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: Error.code enum is %v; statusOf maps %v", specPath, got, want)
	}
}
