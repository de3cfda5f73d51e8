"use strict";
(() => {
  // The ratchetpy server runs on this page's host, on its own port. The browser sends Flask's session
  // cookie with the handshake (cookies are per host, not per port): that is how the server knows who we are.
  const url = `ws://${location.hostname}:${document.body.dataset.wsPort}/chat`;
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const input = document.getElementById("message");
  const send = document.getElementById("send");
  const me = document.getElementById("me").textContent;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
    send.disabled = state !== "connected";
  }

  // Always textContent: messages (and names) are text, never HTML.
  function show(text, className) {
    const item = document.createElement("li");
    item.className = className;
    item.textContent = text;
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  const socket = new WebSocket(url);
  socket.onopen = () => setStatus("connected", "Connected");
  socket.onmessage = (event) => show(event.data, "theirs");
  // No reconnecting: a refused handshake (logged out, session expired) would be refused again.
  socket.onclose = () => setStatus("closed", "Disconnected: reload the page, or log in again");

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text || socket.readyState !== WebSocket.OPEN) return;
    socket.send(text);
    show(`${me}: ${text}`, "mine");
    input.value = "";
  });
})();
