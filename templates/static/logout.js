// The signed-out page: once every application's logout frame has loaded (or after 5 s,
// whichever comes first), go on to where the sign-out was leading. Without scripts the
// link stays.
(() => {
  const next = document.getElementById("logout-continue");
  if (!next) return;
  const frames = document.querySelectorAll("iframe.logout-frame");
  let left = frames.length;
  const go = () => window.location.assign(next.href);
  for (const frame of frames) {
    frame.addEventListener("load", () => {
      left -= 1;
      if (left === 0) go();
    });
  }
  setTimeout(go, 5000);
})();
