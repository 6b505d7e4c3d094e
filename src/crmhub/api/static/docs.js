// crmhub's interactive API docs: Swagger UI (from the fastapi-offline package, served by crmhub
// itself) on the OpenAPI document named by the page. A file, not inline script: the page's
// Content-Security-Policy allows scripts from this server only.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
