// Password strength meter: a hint while typing, where JavaScript runs. The server's
// policy (length, common passwords, personal data, zxcvbn) decides; this only guides.
(function () {
  var input = document.getElementById("password");
  var meter = document.getElementById("strength");
  if (!input || !meter) { return; }
  meter.hidden = false;
  input.addEventListener("input", function () {
    var value = input.value;
    var classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(function (r) { return r.test(value); }).length;
    var words = value.trim().split(/\s+/).filter(function (w) { return w.length > 2; }).length;
    var score = 0;
    if (value.length >= 15) { score = 2; }
    if (value.length >= 15 && (classes >= 3 || words >= 4)) { score = 3; }
    if (value.length >= 20 && (classes >= 3 || words >= 5)) { score = 4; }
    if (value.length > 0 && value.length < 15) { score = value.length >= 10 ? 1 : 0; }
    meter.value = score;
  });
})();
