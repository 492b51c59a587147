// Draws a run's graph (the layered layout /api/runs/{run}/graph computes)
// as SVG: jobs coloured by state, or, for large runs, one box per task with
// its jobs counted by state.

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const ORDER = ['succeeded', 'claimed', 'ready', 'pending', 'failed', 'upstream_failed', 'cancelled'];

export function drawGraph(box, g) {
  const tasks = g.mode === 'tasks';
  const W = tasks ? 230 : 150;
  const H = tasks ? 56 : 30;
  const GX = tasks ? 90 : 50;
  const GY = tasks ? 24 : 12;
  const at = new Map();
  let width = 0;
  let height = 0;
  for (const n of g.nodes) {
    const x = 10 + n.layer * (W + GX);
    const y = 10 + n.row * (H + GY);
    at.set(n.id, { x, y });
    width = Math.max(width, x + W + 10);
    height = Math.max(height, y + H + 10);
  }
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'graph-svg', 'data-mode': g.mode });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  for (const e of g.edges) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W;
    const y1 = a.y + H / 2;
    const x2 = b.x;
    const y2 = b.y + H / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)' }));
    if (tasks && e.count > 1) svg.append(s('text', { x: mx, y: (y1 + y2) / 2 - 3, class: 'edge-count' }, '×' + e.count));
  }
  for (const n of g.nodes) {
    const { x, y } = at.get(n.id);
    const group = s('g', { class: 'node ' + n.state, 'data-node': n.id, 'data-state': n.state });
    const title = s('title', {}, tasks
      ? `${n.label}: ` + ORDER.filter((st) => n.counts[st]).map((st) => `${n.counts[st]} ${st}`).join(', ')
      : `${n.label} (${n.elf}/${n.task}): ${n.state}`);
    group.append(title, s('rect', { x, y, width: W, height: H, rx: 5 }));
    group.append(s('text', { x: x + 8, y: y + 19, class: 'label' }, n.label.length > 30 ? n.label.slice(0, 29) + '…' : n.label));
    if (tasks) {
      const total = Object.values(n.counts).reduce((p, c) => p + c, 0);
      let cx = x + 8;
      for (const st of ORDER) {
        const c = n.counts[st] || 0;
        if (!c) continue;
        const w = ((W - 16) * c) / total;
        group.append(s('rect', { x: cx, y: y + 30, width: Math.max(w, 1), height: 8, class: 'bar ' + st }));
        cx += w;
      }
      group.append(s('text', { x: x + 8, y: y + 51, class: 'small' },
        ORDER.filter((st) => n.counts[st]).map((st) => `${n.counts[st]} ${st.replace('_', ' ')}`).join(' · ')));
    }
    if (n.job) {
      const link = s('a', { href: '/jobs/' + n.job });
      link.append(group);
      svg.append(link);
    } else svg.append(group);
  }
  const note = g.note ? document.createElement('p') : null;
  if (note) {
    note.className = 'note';
    note.id = 'graph-note';
    note.textContent = g.note;
  }
  box.replaceChildren(...(note ? [note] : []), svg);
}
