package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/httpapi"
	"github.com/seatline/seatline/internal/apptest"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("load httpapi/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("httpapi/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	if doc := loadOpenAPI(t); doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi: %q, want 3.0.3", doc.OpenAPI)
	}
}

// ginParam matches the parameters of a gin path, :id and *rest.
var ginParam = regexp.MustCompile(`[:*]([^/]+)`)

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{})
	eng, ok := e.App.Handler().(*gin.Engine)
	if !ok {
		t.Fatalf("the app's handler is a %T, not the *gin.Engine of httpapi.New", e.App.Handler())
	}
	served := map[string]bool{}
	for _, r := range eng.Routes() {
		served[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	described := map[string]bool{}
	for path, item := range loadOpenAPI(t).Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	for _, op := range sortedKeys(served) {
		if !described[op] {
			t.Errorf("route %s has no operation in httpapi/openapi.yaml", op)
		}
	}
	for _, op := range sortedKeys(described) {
		if !served[op] {
			t.Errorf("httpapi/openapi.yaml describes %s, which the router does not serve", op)
		}
	}

	resp, err := http.Get(e.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(body, httpapi.OpenAPI()) {
		t.Fatalf("GET /openapi.yaml: %d %q, %d bytes; want 200 application/yaml, the embedded document",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
