// Scratch-off: the first stroke asks the server to reveal (the outcome is decided and stored
// there before anything is drawn), then the person scratches the foil away to see it. Without
// script, or with a keyboard, the "Reveal" button does the same with a plain form post.
(function () {
  var card = document.querySelector("[data-scratch]");
  if (!card) return;
  var form = card.querySelector("form");
  var canvas = card.querySelector("canvas");
  var result = card.querySelector("[data-result]");
  var ctx = canvas.getContext("2d");
  var ratio = window.devicePixelRatio || 1;
  var revealed = false, asked = false, scratching = false;

  function size() {
    var rect = canvas.getBoundingClientRect();
    canvas.width = rect.width * ratio;
    canvas.height = rect.height * ratio;
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#b8b2a7";
    ctx.fillRect(0, 0, rect.width, rect.height);
    ctx.fillStyle = "#6b645c";
    ctx.font = "600 18px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("Scratch here", rect.width / 2, rect.height / 2 + 6);
  }

  function ask() {
    if (asked) return;
    asked = true;
    var body = new FormData(form);
    fetch(form.action, {method: "POST", body: body, headers: {"Accept": "application/json"},
                        credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (pair) {
        if (!pair[0]) { window.location.reload(); return; }
        result.innerHTML = "";
        var title = document.createElement("strong");
        title.textContent = pair[1].label;
        result.appendChild(title);
        if (pair[1].code) {
          var code = document.createElement("p");
          code.textContent = "Code: " + pair[1].code;
          code.setAttribute("data-code", pair[1].code);
          result.appendChild(code);
        }
        result.hidden = false;
        form.hidden = true;  // decided: the fallback button has nothing left to do
        revealed = true;
        if (cleared() > 0.45) finish();
      })
      .catch(function (err) { console.error("reveal failed", err); window.location.reload(); });
  }

  function scratch(event) {
    if (!scratching) return;
    var rect = canvas.getBoundingClientRect();
    var x = event.clientX - rect.left, y = event.clientY - rect.top;
    ctx.globalCompositeOperation = "destination-out";
    ctx.beginPath();
    ctx.arc(x, y, 22, 0, Math.PI * 2);
    ctx.fill();
    if (revealed && cleared() > 0.45) finish();
  }

  function finish() {
    canvas.remove();
    card.setAttribute("data-done", "yes");
  }

  function cleared() {
    var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    var clear = 0, step = 16;
    for (var i = 3; i < data.length; i += 4 * step) if (data[i] === 0) clear++;
    return clear / (data.length / (4 * step));
  }

  // Unhidden first: a hidden canvas measures 0 x 0.
  canvas.hidden = false;
  size();
  canvas.style.touchAction = "none";
  canvas.addEventListener("pointerdown", function (e) { scratching = true; ask(); scratch(e); });
  canvas.addEventListener("pointermove", scratch);
  window.addEventListener("pointerup", function () { scratching = false; });
})();
