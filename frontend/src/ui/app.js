// Bazaar storefront: the catalog, search, buying and order lookup through the frontend's
// public JSON API, and a cluster panel polling GET /cluster/nodes. Plain DOM, no
// framework; every text from the server goes in through textContent, never as HTML.
"use strict";

(function () {
  const CLUSTER_EVERY_MS = 1500;
  const CATALOG_EVERY_MS = 5000;
  const REQUEST_TIMEOUT_MS = 8000;
  // An order whose answer was lost or was a 503 is retried with the same key, so the
  // store creates it at most once; after this many tries the shopper decides.
  const ORDER_TRIES = 4;
  const PAGE = 100;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function money(value) {
    return typeof value === "number" ? value.toFixed(2) : String(value);
  }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return "web-" + window.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // One request: never throws. `ok` with `data`, or an answer `status` (0 when the
  // frontend could not be reached) with `message` in words.
  async function api(path, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(path, Object.assign({ signal: controller.signal, cache: "no-store" }, options || {}));
    } catch (err) {
      clearTimeout(timer);
      const why = err && err.name === "AbortError"
        ? "no answer within " + REQUEST_TIMEOUT_MS / 1000 + " s"
        : "the shop could not be reached";
      return { ok: false, status: 0, message: why };
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    } finally {
      clearTimeout(timer);
    }
    if (response.ok && body && "data" in body) {
      return { ok: true, status: response.status, data: body.data };
    }
    const message = body && body.error && body.error.message
      ? body.error.message
      : "HTTP " + response.status + " " + response.statusText;
    return { ok: false, status: response.status, message };
  }

  // What an error answer means to a shopper.
  function explain(result, what) {
    const detail = result.message ? " (" + result.message + ")" : "";
    switch (result.status) {
      case 0: return "Could not reach the shop: " + result.message + ". Please try again.";
      case 400: return "That " + what + " is not valid" + detail + ".";
      case 404: return "Not found" + detail + ".";
      case 409: return "Not enough stock" + detail + ".";
      case 413: return "The request is too large" + detail + ".";
      case 422: return "This order conflicts with an earlier one" + detail + ".";
      case 503: return "The shop cannot answer right now, probably while it elects a new leader" + detail + ". Please try again.";
      default: return "The shop answered " + result.status + detail + ".";
    }
  }

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = !text;
  }

  // Errors in our own code must not leave a blank or frozen page.
  window.addEventListener("error", (e) => showBanner("Something went wrong on this page: " + e.message));
  window.addEventListener("unhandledrejection", (e) =>
    showBanner("Something went wrong on this page: " + (e.reason && e.reason.message ? e.reason.message : e.reason)));

  // ---------------------------------------------------------------- catalog

  const view = { topic: "", products: [], loaded: false };

  async function fetchAllProducts() {
    const all = [];
    for (let offset = 0; ; offset += PAGE) {
      const r = await api("/products?offset=" + offset + "&limit=" + PAGE);
      if (!r.ok) return r;
      all.push(...r.data.products);
      if (r.data.products.length < PAGE || all.length >= r.data.total) break;
    }
    return { ok: true, data: all };
  }

  async function fetchView() {
    if (!view.topic) return fetchAllProducts();
    const r = await api("/search?topic=" + encodeURIComponent(view.topic));
    return r.ok ? { ok: true, data: r.data.products } : r;
  }

  function stockText(quantity) {
    return quantity === 0 ? "Out of stock" : quantity + " in stock";
  }

  function card(product, index) {
    const qtyId = "qty-" + index;
    const resultId = "result-" + index;
    const qty = el("input", {
      id: qtyId, type: "number", min: "1", max: "10000", step: "1", value: "1",
      inputmode: "numeric", required: "", class: "qty",
    });
    const buy = el("button", { type: "submit", class: "buy" }, "Buy");
    const form = el("form", { class: "buy-form", "aria-label": "Buy " + product.title },
      el("label", { for: qtyId, text: "Quantity" }), qty, buy);
    const result = el("p", { id: resultId, class: "result", role: "status", "aria-live": "polite" });
    const item = el("li", { class: "card", "data-name": product.name },
      el("h3", { class: "title", text: product.title }),
      el("p", { class: "meta" },
        // Many products are titled by their name; saying it twice is noise.
        product.name === product.title ? "" : el("span", { class: "name", text: product.name }),
        el("button", { type: "button", class: "topic", "data-topic": product.topic,
          "aria-label": "Show topic " + product.topic, text: product.topic })),
      el("p", { class: "price" }, el("span", { class: "visually-hidden", text: "Price " }), money(product.price)),
      el("p", { class: "stock", "data-stock": String(product.quantity), text: stockText(product.quantity) }),
      form, result);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      buyClicked(product.name, qty, buy, result);
    });
    return item;
  }

  function updateStock(item, product) {
    const stock = item.querySelector(".stock");
    if (stock.dataset.stock !== String(product.quantity)) {
      stock.dataset.stock = String(product.quantity);
      stock.textContent = stockText(product.quantity);
    }
    const price = item.querySelector(".price");
    price.lastChild.textContent = money(product.price);
  }

  function render(products) {
    const list = $("products");
    const items = Array.from(list.children);
    const sameSet = items.length === products.length &&
      items.every((item, i) => item.dataset.name === products[i].name);
    if (sameSet) {
      // Update in place so a quantity being typed or a focused button is not lost.
      items.forEach((item, i) => updateStock(item, products[i]));
    } else {
      list.replaceChildren(...products.map(card));
    }
    view.products = products;
  }

  function describeView(count) {
    const noun = count === 1 ? "product" : "products";
    return view.topic
      ? count + " " + noun + " in topic “" + view.topic + "”."
      : count + " " + noun + " in the catalog.";
  }

  function renderTopics(products) {
    const topics = Array.from(new Set(products.map((p) => p.topic))).sort();
    $("topic-list").replaceChildren(...topics.map((t) => el("option", { value: t })));
    $("topic-chips").replaceChildren(...topics.map((t) =>
      el("button", { type: "button", class: "chip", "data-topic": t,
        "aria-pressed": String(view.topic === t), text: t })));
  }

  // Loads the current view; `announce` says whether a shopper asked for it (then the
  // page says it is searching), as opposed to the background refresh.
  async function loadView(announce) {
    const status = $("catalog-status");
    const wanted = view.topic;
    if (announce) status.textContent = wanted ? "Searching “" + wanted + "”…" : "Loading the catalog…";
    const r = await fetchView();
    if (wanted !== view.topic) return; // a newer search started meanwhile
    if (!r.ok) {
      status.textContent = (view.loaded ? "Could not refresh the products: " : "Could not load the products: ") +
        explain(r, view.topic ? "topic" : "request");
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    render(r.data);
    if (!view.topic) renderTopics(r.data);
    view.loaded = true;
    // Rewriting the same text would make screen readers repeat it on every refresh.
    const described = describeView(r.data.length);
    if (status.textContent !== described) status.textContent = described;
    document.querySelectorAll(".chips .chip").forEach((chip) =>
      chip.setAttribute("aria-pressed", String(chip.dataset.topic === view.topic)));
  }

  function search(topic) {
    view.topic = topic.trim();
    $("topic").value = view.topic;
    return loadView(true);
  }

  async function refreshProduct(name) {
    const r = await api("/products/" + encodeURIComponent(name));
    if (!r.ok) return;
    const item = Array.from($("products").children).find((i) => i.dataset.name === name);
    if (item) updateStock(item, r.data);
  }

  // ---------------------------------------------------------------- orders

  async function placeOrder(name, quantity) {
    // One key per click: every retry of this click carries it, so a retry after a lost
    // answer returns the first order instead of placing a second.
    const key = newKey();
    let last;
    for (let attempt = 1; attempt <= ORDER_TRIES; attempt++) {
      last = await api("/orders", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify({ name, quantity }),
      });
      // Only "no answer" and 503 leave the outcome open; anything else is final.
      if (last.ok || (last.status !== 0 && last.status !== 503)) return last;
      if (attempt < ORDER_TRIES) await sleep(300 * attempt);
    }
    return last;
  }

  async function buyClicked(name, qtyInput, button, result) {
    const quantity = Number(qtyInput.value);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > 10000) {
      result.className = "result error";
      result.textContent = "Enter a whole quantity from 1 to 10000.";
      qtyInput.focus();
      return;
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    result.className = "result";
    result.textContent = "Placing your order…";
    try {
      const r = await placeOrder(name, quantity);
      if (r.ok) {
        const o = r.data;
        result.className = "result ok";
        result.dataset.order = String(o.order_number);
        result.textContent = "Order #" + o.order_number + " placed: " + o.quantity + " × " + o.name +
          ", total " + money(o.total) + ".";
        await refreshProduct(name);
      } else {
        result.className = "result error";
        delete result.dataset.order;
        result.textContent = explain(r, "order");
        if (r.status === 409) await refreshProduct(name);
      }
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  async function lookUp(number) {
    const out = $("lookup-result");
    if (!/^\d+$/.test(number)) {
      out.className = "result error";
      out.textContent = "Enter an order number (digits only).";
      return;
    }
    out.className = "result";
    out.textContent = "Looking up order #" + number + "…";
    const r = await api("/orders/" + number);
    if (!r.ok) {
      out.className = "result error";
      out.textContent = r.status === 404 ? "There is no order #" + number + "." : explain(r, "order number");
      return;
    }
    const o = r.data;
    out.className = "result ok";
    out.dataset.order = String(o.order_number);
    const dl = el("dl", { class: "order" },
      el("dt", { text: "Order" }), el("dd", { class: "order-number", text: "#" + o.order_number }),
      el("dt", { text: "Product" }), el("dd", { class: "order-name", text: o.name }),
      el("dt", { text: "Quantity" }), el("dd", { class: "order-quantity", text: String(o.quantity) }),
      el("dt", { text: "Unit price" }), el("dd", { text: money(o.unit_price) }),
      el("dt", { text: "Total" }), el("dd", { text: money(o.total) }));
    out.replaceChildren(dl);
  }

  // ---------------------------------------------------------------- cluster

  let lastNews = "";

  function cell(text, label) {
    return el("td", { class: "num", "data-label": label,
      text: text === null || text === undefined ? "–" : String(text) });
  }

  function renderNodes(data) {
    const rows = data.nodes.map((n) => {
      let role = n.role;
      if (n.role === "leader" && data.leader !== n.id) role = "leader (stale term)";
      const roleCell = el("td", { class: "role" },
        el("span", { class: "badge badge-" + n.role, text: role }));
      if (!n.up && n.error) roleCell.append(el("span", { class: "why", text: n.error }));
      return el("tr", { "data-node": String(n.id), "data-role": n.role, class: n.up ? "" : "is-down" },
        el("th", { scope: "row" }, "Node " + n.id, el("span", { class: "addr", text: n.api })),
        roleCell, cell(n.term, "Term"), cell(n.commit_index, "Commit"), cell(n.applied_index, "Applied"));
    });
    $("node-rows").replaceChildren(...rows);

    const f = data.frontend;
    $("stat-cache").textContent = f.cache_enabled
      ? f.cache_size + " of " + f.cache_capacity + " entries" + (f.cache_serving ? "" : " (not serving: feed behind)")
      : "off";
    const lookups = f.hits + f.misses;
    $("stat-hits").textContent = lookups === 0
      ? "no lookups yet"
      : (f.hit_ratio * 100).toFixed(1) + " % (" + f.hits + " hits, " + f.misses + " misses)";
    const feed = f.feed;
    let feedText = feed.state;
    if (feed.node) feedText += " from node " + feed.node;
    if (feed.state !== "off") feedText += ", index " + feed.last_index + ", lag " + feed.lag_entries;
    $("stat-feed").textContent = feedText;
    $("stat-feed").dataset.state = feed.state;

    // Read out only what changed for an operator (leader, nodes down), not every poll.
    const downIds = data.nodes.filter((n) => !n.up).map((n) => n.id);
    let news = data.leader ? "Node " + data.leader + " leads (term " + data.term + ")." : "No leader right now.";
    if (downIds.length) news += " Down: node " + downIds.join(", node ") + ".";
    if (news !== lastNews) {
      $("cluster-news").textContent = news;
      lastNews = news;
    }
    $("cluster").classList.remove("stale");
    $("cluster-updated").textContent = "Updated " + new Date().toLocaleTimeString() + ", every " +
      CLUSTER_EVERY_MS / 1000 + " s.";
  }

  async function pollCluster() {
    const r = await api("/cluster/nodes");
    if (r.ok) {
      renderNodes(r.data);
    } else {
      // Keep the last rows but say they are old, and why.
      $("cluster").classList.add("stale");
      $("cluster-updated").textContent = "Cannot get the cluster status: " + explain(r, "request") +
        " Showing the last known state.";
    }
    setTimeout(pollCluster, CLUSTER_EVERY_MS);
  }

  async function pollCatalog() {
    await loadView(false);
    setTimeout(pollCatalog, view.loaded ? CATALOG_EVERY_MS : 1000);
  }

  // ---------------------------------------------------------------- wiring

  function start() {
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      search($("topic").value);
    });
    document.addEventListener("click", (e) => {
      const target = e.target.closest("[data-topic]");
      if (target) search(target.dataset.topic);
    });
    $("lookup-form").addEventListener("submit", (e) => {
      e.preventDefault();
      lookUp($("order-number").value.trim());
    });
    pollCatalog();
    pollCluster();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
