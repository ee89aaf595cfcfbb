/* The pipeline board: drag a card to another column to move the opportunity. Moving to
   Lost first asks why. Every card also has a plain form, so the board works without
   this script. */
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusLine = document.getElementById("board-status");
  var dialog = document.getElementById("lost-dialog");
  var dragged = null;

  function columnOf(node) {
    return node && node.closest ? node.closest(".board-column") : null;
  }

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "flash error" : "flash";
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".pipeline-card[draggable=true]");
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });

  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });

  board.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (column && dragged && column.dataset.stage !== dragged.dataset.stage) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      column.classList.add("drop-target");
    }
  });

  board.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("drop-target"); }
  });

  board.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) { return; }
    event.preventDefault();
    column.classList.remove("drop-target");
    var card = dragged;
    dragged = null;
    card.classList.remove("dragging");
    if (column.dataset.stage === card.dataset.stage) { return; }
    if (column.dataset.stage === "lost") {
      // Once the drag is over: a modal opened during the drop would outlive it.
      window.setTimeout(function () { askWhyLost(card); }, 0);
    } else {
      send(card, { stage: column.dataset.stage });
    }
  });

  function askWhyLost(card) {
    var form = dialog.querySelector("form");
    form.reset();
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue !== "ok") { return; }
      send(card, { stage: "lost", lost_reason: form.elements.lost_reason.value,
                   lost_note: form.elements.lost_note.value });
    };
    dialog.showModal();
  }

  document.getElementById("lost-cancel").addEventListener("click", function () {
    dialog.close("cancel");
  });

  function send(card, body) {
    fetch(card.dataset.moveUrl + window.location.search, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) {
        say(result.data.error ? result.data.error.message : board.dataset.failed, true);
        return;
      }
      place(card, result.data);
      say(board.dataset.moved, false);
    }).catch(function () {
      say(board.dataset.failed, true);
    });
  }

  function place(card, data) {
    var holder = document.createElement("template");
    holder.innerHTML = data.card.trim();
    var fresh = holder.content.firstElementChild;
    var cards = board.querySelector('.board-column[data-stage="' + data.stage + '"] [data-cards]');
    card.remove();
    cards.insertBefore(fresh, cards.firstChild);
    Object.keys(data.columns).forEach(function (stage) {
      var column = board.querySelector('.board-column[data-stage="' + stage + '"]');
      if (!column) { return; }
      column.querySelector("[data-count]").textContent = data.columns[stage].count;
      column.querySelector("[data-sum]").textContent = data.columns[stage].amount;
    });
  }
}());
