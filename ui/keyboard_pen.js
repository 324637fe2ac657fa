// A keyboard pen for the drawing canvas (streamlit-drawable-canvas, in an open shadow root of the page).
//
// The canvas takes focus with Tab. The arrow keys move a pen shown as a ring; Home, Page Up, End and
// Page Down move it diagonally; Shift makes a step small. Space or Enter puts the pen down and lifts it;
// Escape lifts it. The pen speaks to the canvas in the mouse events a hand would make, so a stroke
// drawn with keys is drawn, sent and read exactly as one drawn with a mouse.
//
// It also mends the canvas's toolbar on touch screens: hidden, it lay invisible over the canvas's
// top-right corner and caught the finger that meant to draw there.

const STEP = 12; // canvas pixels per key press
const FINE = 3; // with Shift
const MOVES = {
  ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0],
  Home: [-1, -1], PageUp: [1, -1], End: [-1, 1], PageDown: [1, 1],
};
const CSS = `
canvas.upper-canvas:focus { outline: none; }
canvas.upper-canvas:focus-visible { outline: 3px solid #1c83e1; outline-offset: -3px; }
.kp-ring { position: absolute; width: 16px; height: 16px; margin: -10px 0 0 -10px; border: 2px solid #ff4b4b;
           border-radius: 50%; pointer-events: none; box-shadow: 0 0 0 2px #000; z-index: 10; }
.kp-ring.kp-down { background: #ff4b4b; }
.kp-live { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.dc-toolbar { pointer-events: none; }
.dc-root:hover > .dc-toolbar, .dc-toolbar:focus-within, .dc-toolbar[data-pinned=true] { pointer-events: auto; }
`;

function findCanvas(root) {
  const canvas = root.querySelector("canvas.upper-canvas");
  if (canvas) return canvas;
  for (const element of root.querySelectorAll("*")) {
    if (element.shadowRoot) {
      const inner = findCanvas(element.shadowRoot);
      if (inner) return inner;
    }
  }
  return null;
}

function wire(canvas, data) {
  canvas.dataset.keyboardPen = "1";
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "application");
  canvas.setAttribute("aria-label", data.label);
  const root = canvas.getRootNode();
  if (root !== document && !root.querySelector("style[data-keyboard-pen]")) {
    const style = document.createElement("style");
    style.dataset.keyboardPen = "1";
    style.textContent = CSS;
    root.appendChild(style);
  }
  const box = canvas.parentElement; // the canvas's own wrapper, positioned: the ring sits in its coordinates
  const ring = document.createElement("div");
  ring.className = "kp-ring";
  ring.hidden = true;
  const live = document.createElement("div");
  live.className = "kp-live";
  live.setAttribute("aria-live", "polite");
  box.append(ring, live);
  const size = data.size;
  const pen = { x: size / 2, y: size / 2, down: false };

  const place = () => {
    const scale = canvas.clientWidth / size;
    ring.style.left = `${pen.x * scale}px`;
    ring.style.top = `${pen.y * scale}px`;
    ring.classList.toggle("kp-down", pen.down);
  };
  const fire = (type) => {
    const rect = canvas.getBoundingClientRect(); // on a phone the canvas is drawn smaller than its pixels
    canvas.dispatchEvent(new MouseEvent(type, {
      bubbles: true, composed: true, cancelable: true, view: window, button: 0,
      buttons: type === "mouseup" ? 0 : 1,
      clientX: rect.left + (pen.x * rect.width) / size, clientY: rect.top + (pen.y * rect.height) / size,
    }));
  };
  const say = (text) => { live.textContent = text; };
  const lift = () => {
    if (!pen.down) return;
    pen.down = false;
    fire("mouseup");
    place();
    say(data.lifted);
  };

  const show = () => { ring.hidden = false; place(); };
  // the ring is the keyboard's: shown when focus comes by keyboard or a pen key is pressed, not after a click or tap
  canvas.addEventListener("focus", () => { if (canvas.matches(":focus-visible")) show(); });
  canvas.addEventListener("blur", () => { lift(); ring.hidden = true; });
  for (const type of ["mousedown", "touchstart"]) {
    canvas.addEventListener(type, (event) => { if (event.isTrusted) ring.hidden = true; }, { passive: true });
  }
  canvas.addEventListener("keydown", (event) => {
    if (MOVES[event.key] || [" ", "Enter", "Escape"].includes(event.key)) show();
    const move = MOVES[event.key];
    if (move) {
      const step = event.shiftKey ? FINE : STEP;
      pen.x = Math.min(size, Math.max(0, pen.x + move[0] * step));
      pen.y = Math.min(size, Math.max(0, pen.y + move[1] * step));
      if (pen.down) fire("mousemove");
      place();
    } else if (event.key === " " || event.key === "Enter") {
      if (pen.down) {
        lift();
      } else {
        pen.down = true;
        fire("mousedown");
        place();
        say(data.down);
      }
    } else if (event.key === "Escape") {
      lift();
    } else {
      return; // Tab and every other key keep their meaning
    }
    event.preventDefault();
    event.stopPropagation();
  });
}

export default function (component) {
  const { data } = component;
  const look = () => {
    const host = document.querySelector(".st-key-canvas");
    const canvas = host && findCanvas(host);
    if (canvas && !canvas.dataset.keyboardPen) wire(canvas, data); // a new canvas after Clear or a page change
  };
  look();
  const timer = setInterval(look, 400);
  return () => clearInterval(timer);
}
