// Swagger UI for the app's OpenAPI document; POST requests carry the session's CSRF token.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("swagger-ui");
    var header = node.getAttribute("data-csrf-header");
    var token = node.getAttribute("data-csrf-token");
    window.SwaggerUIBundle({
      url: node.getAttribute("data-openapi-url"),
      dom_id: "#swagger-ui",
      validatorUrl: null,
      deepLinking: true,
      requestInterceptor: function (request) {
        if (request.method && request.method.toUpperCase() !== "GET") { request.headers[header] = token; }
        return request;
      }
    });
  });
})();
