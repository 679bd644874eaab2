// imagevault console: progressive enhancement only. Every form works without this script;
// with it, uploads go one file at a time to the JSON API with a progress bar each, files
// can be dropped on the form, thumbnails still being made appear without a reload, and
// expiring links can be copied.
"use strict";

(function () {
  const meta = (name) => {
    const element = document.querySelector(`meta[name="${name}"]`);
    return element ? element.getAttribute("content") : "";
  };
  const csrfToken = meta("csrf-token");
  const prefix = meta("imagevault-prefix");

  // The server's own words for a refused file: DRF's {"detail": ...} or {"field": [...]}.
  function messageOf(status, text) {
    try {
      const body = JSON.parse(text);
      if (typeof body.detail === "string") return body.detail;
      return Object.values(body).flat().join(" ");
    } catch (_) {
      return `The server answered ${status}.`;
    }
  }

  function smallestThumbnail(image) {
    const thumbnails = (image.thumbnails || []).slice().sort((a, b) => a.max_height - b.max_height);
    return thumbnails[0] || null;
  }

  function cardFor(image) {
    const item = document.createElement("li");
    item.className = "image-card";
    item.dataset.imageId = image.id;
    item.dataset.pending = "1";
    const link = document.createElement("a");
    link.href = `${prefix}/images/${image.id}/`;
    const status = document.createElement("span");
    status.className = "thumb-status pending";
    status.textContent = "Thumbnail pending";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = image.name;
    link.append(status, name);
    item.append(link);
    return item;
  }

  // A thumbnail's picture, on the image's average colour until it has loaded (set through
  // the style object, which the page's Content-Security-Policy never blocks).
  function thumbnailImage(image, thumbnail, alt) {
    const img = document.createElement("img");
    img.src = thumbnail.url;
    img.width = thumbnail.width;
    img.height = thumbnail.height;
    img.alt = alt;
    if (image.average_color) img.style.backgroundColor = image.average_color;
    return img;
  }

  // A failed thumbnail's box: the words alone, on the failure colour.
  function showFailed(status) {
    status.className = "thumb-status failed";
    status.removeAttribute("style");
    status.textContent = "Thumbnail failed";
  }

  // Swaps a card's status for its thumbnail once the API says it is ready.
  function showThumbnail(card, image) {
    const thumbnail = smallestThumbnail(image);
    if (!thumbnail || thumbnail.status === "pending") return false;
    const status = card.querySelector(".thumb-status");
    if (thumbnail.status === "ready" && thumbnail.url) {
      // The card's link names the image already.
      if (status) status.replaceWith(thumbnailImage(image, thumbnail, ""));
    } else if (status) {
      showFailed(status);
    }
    delete card.dataset.pending;
    return true;
  }

  function watch(card) {
    let delay = 700;
    const started = Date.now();
    const poll = async () => {
      if (Date.now() - started > 10 * 60 * 1000) return;
      try {
        const response = await fetch(`${prefix}/api/images/${card.dataset.imageId}/`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.status === 404) return;
        if (response.ok && showThumbnail(card, await response.json())) return;
      } catch (_) {
        // A network blip: try again later.
      }
      delay = Math.min(delay * 1.5, 5000);
      setTimeout(poll, delay);
    };
    setTimeout(poll, delay);
  }

  function uploadOne(file, results, gallery) {
    const item = document.createElement("li");
    item.dataset.fileName = file.name;
    const label = document.createElement("strong");
    label.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${file.name}`);
    item.append(label, progress);
    results.append(item);
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("POST", `${prefix}/api/images/`);
      request.setRequestHeader("X-CSRFToken", csrfToken);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
      });
      const finish = (ok, text) => {
        progress.remove();
        item.className = ok ? "upload-ok" : "upload-error";
        item.append(document.createTextNode(ok ? ": uploaded." : `: not uploaded. ${text}`));
        resolve();
      };
      request.addEventListener("load", () => {
        if (request.status === 201) {
          const image = JSON.parse(request.responseText);
          if (gallery) {
            const card = cardFor(image);
            gallery.prepend(card);
            const empty = document.getElementById("gallery-empty");
            if (empty) empty.remove();
            if (!showThumbnail(card, image)) watch(card);
          }
          finish(true, "");
        } else {
          finish(false, messageOf(request.status, request.responseText));
        }
      });
      request.addEventListener("error", () => finish(false, "The connection failed; try again."));
      const form = new FormData();
      form.append("image", file, file.name);
      request.send(form);
    });
  }

  function enhanceUpload() {
    const form = document.getElementById("upload");
    const input = document.getElementById("upload-image");
    const results = document.getElementById("upload-results");
    if (!form || !input || !results || !window.FormData) return;
    const gallery = document.getElementById("gallery");
    const send = async (files) => {
      results.replaceChildren();
      // One at a time, so the per-user upload limit is never hit by our own page.
      for (const file of files) await uploadOne(file, results, gallery);
      input.value = "";
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.files.length) send(Array.from(input.files));
    });
    const zone = form.querySelector(".dropzone") || form;
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) send(Array.from(event.dataTransfer.files));
    });
  }

  function enhanceCopyButtons() {
    for (const button of document.querySelectorAll("button.copy-link")) {
      button.hidden = false;
      button.addEventListener("click", async () => {
        const url = button.dataset.url;
        try {
          await navigator.clipboard.writeText(url);
          button.textContent = "Copied";
        } catch (_) {
          window.prompt("Copy the link:", url);
        }
      });
    }
  }

  function enhanceConfirmations() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  }

  // The image page: thumbnails still being made appear without a reload.
  function watchImagePage() {
    const thumbs = document.getElementById("thumbnails");
    if (!thumbs || !thumbs.querySelector(".thumb-status.pending")) return;
    let delay = 700;
    const started = Date.now();
    const poll = async () => {
      if (Date.now() - started > 10 * 60 * 1000) return;
      try {
        const response = await fetch(`${prefix}/api/images/${thumbs.dataset.imageId}/`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.status === 404) return;
        if (response.ok) {
          const image = await response.json();
          let pending = 0;
          for (const thumbnail of image.thumbnails || []) {
            const figure = thumbs.querySelector(`figure[data-max-height="${thumbnail.max_height}"]`);
            const status = figure && figure.querySelector(".thumb-status.pending");
            if (!status) continue;
            if (thumbnail.status === "pending") {
              pending += 1;
            } else if (thumbnail.status === "ready" && thumbnail.url) {
              const alt = `${image.name}, ${thumbnail.height} pixels high`;
              status.replaceWith(thumbnailImage(image, thumbnail, alt));
            } else {
              showFailed(status);
            }
          }
          if (!pending) return;
        }
      } catch (_) {
        // A network blip: try again later.
      }
      delay = Math.min(delay * 1.5, 5000);
      setTimeout(poll, delay);
    };
    setTimeout(poll, delay);
  }

  document.addEventListener("DOMContentLoaded", () => {
    enhanceUpload();
    enhanceCopyButtons();
    enhanceConfirmations();
    watchImagePage();
    for (const card of document.querySelectorAll(".image-card[data-pending]")) watch(card);
  });
})();
