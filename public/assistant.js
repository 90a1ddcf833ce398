// The few things the server asks of the page beyond Chainlit's own events.
//
// The server sends window messages {assistant: {...}} (assistant/ui/page.py); Chainlit posts
// them to this page. Only messages the page posted to itself are read, and only these
// instructions are understood:
//   placeholder: text for the empty chat box, or null for Chainlit's own
//   follow:      scroll to the newest content (Chainlit then keeps following it)
//   reveal:      scroll a message (by id) to the top of the view
//   open:        load a conversation's page anew ("/thread/<id>" only)
(() => {
  "use strict";

  const KEY = "assistant";
  const WAIT_MS = 5000;
  let placeholder = null; // what the server asked the chat box to say, or null

  const chatInput = () => document.getElementById("chat-input");

  // Chainlit sets the placeholder once when it renders the box; a new box (another
  // conversation, a re-render) gets Chainlit's words again and ours on top.
  function applyPlaceholder() {
    const box = chatInput();
    if (!box) return;
    if (placeholder !== null) {
      if (box.dataset.defaultPlaceholder === undefined) {
        box.dataset.defaultPlaceholder = box.getAttribute("placeholder") || "";
      }
      if (box.getAttribute("placeholder") !== placeholder) {
        box.setAttribute("placeholder", placeholder);
      }
    } else if (box.dataset.defaultPlaceholder !== undefined) {
      box.setAttribute("placeholder", box.dataset.defaultPlaceholder);
      delete box.dataset.defaultPlaceholder;
    }
  }

  // The messages' scrolling container: the nearest scrollable ancestor of a message.
  function scroller() {
    const first = document.querySelector("[data-step-type]");
    for (let node = first && first.parentElement; node; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowY;
      if (overflow === "auto" || overflow === "scroll") return node;
    }
    return null;
  }

  // Scrolling by hand is what tells Chainlit whether to keep following new content: at
  // the bottom it follows, elsewhere it leaves the view where it is.
  function follow() {
    const box = scroller();
    if (box) box.scrollTop = box.scrollHeight;
  }

  function reveal(id) {
    const started = Date.now();
    const attempt = () => {
      const target = document.getElementById(`step-${id}`);
      const box = scroller();
      if (!target || !box) {
        if (Date.now() - started < WAIT_MS) setTimeout(attempt, 100);
        return;
      }
      // After Chainlit's own scrolling for the same update, which runs once React renders.
      setTimeout(() => {
        const offset = target.getBoundingClientRect().top - box.getBoundingClientRect().top;
        box.scrollTop += offset - 8;
      }, 150);
    };
    attempt();
  }

  function open(url) {
    if (typeof url === "string" && /^\/thread\/[\w-]+$/.test(url)) {
      window.location.assign(url);
    }
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window || event.origin !== window.location.origin) return;
    const instruction = event.data && event.data[KEY];
    if (!instruction || typeof instruction !== "object") return;
    if ("placeholder" in instruction) {
      placeholder = typeof instruction.placeholder === "string" ? instruction.placeholder : null;
      applyPlaceholder();
    }
    if (instruction.follow) follow();
    if (typeof instruction.reveal === "string") reveal(instruction.reveal);
    if ("open" in instruction) open(instruction.open);
  });

  new MutationObserver(applyPlaceholder).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
