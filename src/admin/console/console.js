// Progressive enhancement only: every screen works without it. A "Copy" button copies the
// text of the element its data-copy names (the token shown once after an approval).
document.addEventListener("click", function (e) {
  var id = e.target && e.target.getAttribute && e.target.getAttribute("data-copy");
  if (!id) return;
  var el = document.getElementById(id);
  if (el && navigator.clipboard) {
    navigator.clipboard.writeText(el.textContent).then(function () { e.target.textContent = "Copied"; });
  }
});
