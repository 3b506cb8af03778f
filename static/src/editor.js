// Entry point of the editor page. The collaborative editor mounts on #editor.
const mount = document.getElementById("editor");
if (mount) {
  mount.dataset.ready = "true";
}
