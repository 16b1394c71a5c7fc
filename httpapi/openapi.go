package httpapi

import (
	_ "embed"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
)

// openAPIDoc is the hand-written OpenAPI 3.0 description of every route
// of New; the tests fail when a route and the document disagree, and
// every test response is validated against it.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3.0.3 document (YAML), as served at
// GET /openapi.yaml. The caller owns the returned slice.
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

// openAPI serves the OpenAPI document.
func (a *api) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", openAPIDoc)
}
