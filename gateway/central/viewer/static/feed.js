// The live feed: prepend each event from /events/stream (text only, never HTML).
const live = document.getElementById("live"), rows = document.getElementById("rows");
const source = new EventSource("/events/stream?after=" + live.dataset.after);
source.addEventListener("ev", (msg) => {
  const e = JSON.parse(msg.data), tr = document.createElement("tr");
  tr.className = (e.result || "") + (e.alarm ? " alarm" : "");
  const result = e.result ? live.dataset[e.result] : "";
  for (const v of [e.at, e.site, e.building, e.door, e.kind, e.holder, e.serial, e.org, result, e.reason]) {
    tr.insertCell().textContent = v ?? "";
  }
  rows.prepend(tr);
  while (rows.rows.length > 200) rows.deleteRow(-1);
});
source.onerror = () => { live.classList.add("bad"); };
source.onopen = () => { live.classList.remove("bad"); };
