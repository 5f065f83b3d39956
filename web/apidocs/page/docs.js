// Starts Swagger UI on this server's /openapi.json. It is a file and not an
// inline script so that the page's CSP can forbid inline scripts.
//
// URLs are relative to the page (/docs), so that the page also works behind
// a reverse proxy that mounts Parley under a path prefix.
window.ui = SwaggerUIBundle({
  url: new URL('openapi.json', document.baseURI).href,
  dom_id: '#swagger-ui',
  // BaseLayout without the standalone preset: no top bar that would load a
  // document from any URL the visitor types.
  layout: 'BaseLayout',
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [],
  // Never take configuration or another document from the query string.
  queryConfigEnabled: false,
  // The key the visitor pastes in "Authorize" lives in the page's memory
  // only: nothing is written to localStorage, and it is gone with the tab.
  persistAuthorization: false,
  // No badge that sends the document to a third-party validator.
  validatorUrl: null,
  deepLinking: true,
  filter: true,
  displayRequestDuration: true,
  requestSnippetsEnabled: true,
  defaultModelsExpandDepth: 1,
  docExpansion: 'list',
  tryItOutEnabled: false,
  withCredentials: false,
});
