// Fill the location form with a position rounded to 0.1 degree (about 11 km) only when the
// person presses the button; the server rounds again and never stores anything finer.
document.querySelectorAll("form[data-geolocate]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (form.dataset.ready === "yes") return;
    event.preventDefault();
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.latitude.value = (Math.round(pos.coords.latitude * 10) / 10).toFixed(1);
      form.longitude.value = (Math.round(pos.coords.longitude * 10) / 10).toFixed(1);
      form.dataset.ready = "yes";
      form.submit();
    }, function () {}, {enableHighAccuracy: false, timeout: 10000, maximumAge: 600000});
  });
});
