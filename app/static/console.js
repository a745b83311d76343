// The console's forms: credentials kept for this browser tab, operations sent as JSON-LD.
(function () {
  "use strict";
  var cookie = document.currentScript.dataset.cookie;
  var store = window.sessionStorage;

  function token() { return store.getItem("dlcs-token"); }

  function showWho() {
    var key = store.getItem("dlcs-key");
    document.getElementById("who").textContent = key ? "as " + key : "anonymous";
  }

  document.getElementById("credentials").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var value = btoa(form.key.value + ":" + form.secret.value);
    store.setItem("dlcs-token", value);
    store.setItem("dlcs-key", form.key.value);
    // The cookie lets the browser follow links to protected pages; writes send the header.
    document.cookie = cookie + "=" + value + "; path=/; SameSite=Strict";
    window.location.reload();
  });

  function parse(input) {
    var text = input.value.trim();
    var range = input.dataset.range;
    if (/^\[/.test(text)) { return JSON.parse(text); }
    if (range === "xsd:integer" || range === "xsd:nonNegativeInteger") { return Number(text); }
    if (range === "xsd:boolean") { return text === "true"; }
    return text;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.operation"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
        if (input.value.trim() !== "") { body[input.name] = parse(input); }
      });
      var headers = { "Accept": "application/ld+json" };
      if (token()) { headers.Authorization = "Basic " + token(); }
      var method = form.dataset.method;
      var options = { method: method, headers: headers };
      if (method !== "DELETE" && form.querySelector("input")) {
        headers["Content-Type"] = "application/ld+json";
        options.body = JSON.stringify(body);
      }
      var result = document.getElementById("result");
      fetch(form.dataset.target, options).then(function (response) {
        return response.text().then(function (text) {
          result.hidden = false;
          result.textContent = response.status + " " + response.statusText + "\n" + text;
          result.dataset.status = String(response.status);
          if (response.ok && method !== "DELETE") {
            var location = response.headers.get("Location");
            window.location.href = location || window.location.href;
          }
        });
      });
    });
  });

  showWho();
})();
