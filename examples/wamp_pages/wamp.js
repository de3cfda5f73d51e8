// What the three example pages share: one autobahn-js connection to the server the page came from
// (realm "realm1"), its state shown in #status, and text-only output.
"use strict";
window.wampExample = function (onJoin) {
  const status = document.getElementById("status");
  const url = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + location.pathname;
  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }
  // autobahn-js reconnects by itself (max_retries); every reconnection joins a new session.
  const connection = new autobahn.Connection({ url: url, realm: "realm1", max_retries: -1, max_retry_delay: 10 });
  connection.onopen = function (session, details) {
    setStatus("connected", "Connected (session " + session.id + ", " + connection.transport.info.protocol + ")");
    onJoin(session, details);
  };
  connection.onclose = function (reason, details) {
    setStatus("closed", details.will_retry ? "Disconnected (" + reason + "), reconnecting…" : "Disconnected (" + reason + ")");
  };
  connection.open();
  return connection;
};
// An ERROR from a call, as text: its URI and its first argument (the description).
window.wampErrorText = function (err) {
  if (err && err.error) return err.error + (err.args && err.args.length ? ": " + err.args[0] : "");
  return String(err);
};
// One line of text (never HTML) at the top of a list.
window.wampShow = function (list, text) {
  const item = document.createElement("li");
  item.textContent = text;
  list.insertBefore(item, list.firstChild);
};
