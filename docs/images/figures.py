#!/usr/bin/env python3
"""Draws the hand-made figures of docs/conv1.md as SVG (Python 3 standard library only).

    python3 docs/images/figures.py        # rewrites docs/images/conv_*.svg

The numbers in the figures are the worked examples of docs/conv1.md, whose doctests check
them against ferrite. (conv1_graph.svg is not made here: it is Graphviz's rendering of the
graph.dot written by `cargo run --example 02_autograd`.)
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "Helvetica, Arial, sans-serif"
CELL = 36

# Colours shared by all figures (and by to_dot's graph: parameters light blue).
INK = "#222222"
MUTED = "#777777"
GRID = "#999999"
PAD_FILL = "#e4e4e4"
INPUT_HI = "#fde9c8"      # a nonzero input pixel
KERNEL_FILL = "#cfe6f3"   # parameters (light blue, as in the autograd graph)
OUT_FILL = "#e3f4d2"      # outputs
WINDOW = "#e67e22"        # the highlighted window / tap
SECOND = "#2e86c1"        # a second highlight


def fmt(v):
    """A number as printed in the figures: integers without '.0', a real minus sign."""
    s = str(int(v)) if float(v).is_integer() else str(v)
    return s.replace("-", "\u2212")


class Svg:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def rect(self, x, y, w, h, fill="white", stroke=GRID, sw=1, extra=""):
        self.add(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" '
                 f'stroke="{stroke}" stroke-width="{sw}" {extra}/>')

    def text(self, x, y, s, size=14, anchor="middle", fill=INK, weight="normal", style=""):
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.add(f'<text x="{x}" y="{y}" font-family="{FONT}" font-size="{size}" '
                 f'text-anchor="{anchor}" fill="{fill}" font-weight="{weight}" {style}>{s}</text>')

    def line(self, x1, y1, x2, y2, stroke=INK, sw=1.5, extra=""):
        self.add(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{stroke}" '
                 f'stroke-width="{sw}" {extra}/>')

    def arrow(self, x1, y1, x2, y2, stroke=INK):
        self.line(x1, y1, x2, y2, stroke, 1.5, 'marker-end="url(#arrow)"')

    def circle(self, x, y, r, fill):
        self.add(f'<circle cx="{x}" cy="{y}" r="{r}" fill="{fill}"/>')

    def grid(self, x0, y0, values, fills=None, size=CELL, font=14):
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                fill = fills[i][j] if fills else "white"
                self.rect(x0 + j * size, y0 + i * size, size, size, fill)
                self.text(x0 + j * size + size / 2, y0 + i * size + size / 2 + font * 0.35,
                          fmt(v), font)

    def outline(self, x, y, w, h, stroke=WINDOW, sw=3):
        self.rect(x, y, w, h, "none", stroke, sw)

    def save(self, name):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">\n'
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{INK}"/></marker></defs>\n'
                f'<rect width="100%" height="100%" fill="white"/>\n')
        with open(os.path.join(HERE, name), "w") as f:
            f.write(head + "\n".join(self.parts) + "\n</svg>\n")


def correlate(x, w, b=0.0, stride=1):
    kh, kw = len(w), len(w[0])
    oh = (len(x) - kh) // stride + 1
    ow = (len(x[0]) - kw) // stride + 1
    return [[sum(w[u][v] * x[i * stride + u][j * stride + v]
                 for u in range(kh) for v in range(kw)) + b
             for j in range(ow)] for i in range(oh)]


def sliding_window():
    """A 5x5 image with a vertical bar, a vertical-edge filter, bias -1, then ReLU."""
    x = [[0, 0, 1, 0, 0]] * 4 + [[0, 0, 0, 0, 0]]
    w = [[-1, 0, 1]] * 3
    y = correlate(x, w, -1)
    r = [[max(v, 0) for v in row] for row in y]
    assert y == [[2, -1, -4], [2, -1, -4], [1, -1, -3]], y

    svg = Svg(860, 330)
    top = 60
    xi, xk, xo, xr = 20, 262, 478, 690
    mid = top + CELL  # kernel and outputs are 3 cells tall, centred on the 5-cell input
    svg.text(xi + 90, top - 16, "input x (5×5)", 15, weight="bold")
    svg.text(xk + 54, mid - 16, "filter w (3×3)", 15, weight="bold")
    svg.text(xo + 54, mid - 16, "x ⋆ w + b", 15, weight="bold")
    svg.text(xr + 54, mid - 16, "ReLU", 15, weight="bold")
    svg.grid(xi, top, x, [[INPUT_HI if v else "white" for v in row] for row in x])
    svg.grid(xk, mid, w, [[KERNEL_FILL] * 3] * 3)
    svg.grid(xo, mid, y, [[OUT_FILL] * 3] * 3)
    svg.grid(xr, mid, r, [[OUT_FILL] * 3] * 3)
    svg.text(xi + 180 + 31, top + 102, "⋆", 40)
    svg.text(xk + 108 + 54, mid + 62, "+ b  =", 20)
    svg.text(xk + 108 + 54, mid + 86, "(b = −1)", 13, fill=MUTED)
    svg.arrow(xo + 108 + 14, mid + 54, xr - 14, mid + 54)
    # The window of output [2, 0] and that output, in orange.
    svg.outline(xi, top + 2 * CELL, 3 * CELL, 3 * CELL)
    svg.outline(xo, mid + 2 * CELL, CELL, CELL)
    svg.outline(xr, mid + 2 * CELL, CELL, CELL)
    # The window of output [0, 2] and that output, in blue.
    svg.outline(xi + 2 * CELL, top, 3 * CELL, 3 * CELL, SECOND, 2.5)
    svg.outline(xo + 2 * CELL, mid, CELL, CELL, SECOND, 2.5)
    svg.text(20, 270, "out[2, 0] = (−1·0 + 0·0 + 1·1) + (−1·0 + 0·0 + 1·1) + (−1·0 + 0·0 + 1·0) + (−1) = 1",
             14, anchor="start", fill=WINDOW)
    svg.text(20, 295, "out[0, 2] = (−1·1 + 0·0 + 1·0) · 3 rows + (−1) = −4,  and ReLU(−4) = 0",
             14, anchor="start", fill=SECOND)
    svg.text(20, 320, "The same 9 weights and 1 bias slide over every position: the filter fires on a "
             "rise from dark to light (the bar's left edge).", 13, anchor="start", fill=MUTED)
    svg.save("conv_sliding_window.svg")


def strips():
    """One row of pixels per case: which input positions each output reads."""
    cases = [
        ("kernel 3, stride 2, padding 0: 9 → 4 outputs (the seed's conv1)",
         9, 0, 3, 2, 1),
        ("kernel 3, stride 2, padding 0: 10 → 4 outputs; position 9 is never read (the floor)",
         10, 0, 3, 2, 1),
        ("kernel 3, stride 1, padding 1: 5 → 5 outputs (zeros added at both ends)",
         5, 1, 3, 1, 1),
        ("kernel 3, dilation 2: 5 → 1 output (taps 2 apart: the kernel spans 5 pixels)",
         5, 0, 3, 1, 2),
    ]
    size = 34
    heights = []
    for (_, n, p, k, s, d) in cases:
        outs = (n + 2 * p - d * (k - 1) - 1) // s + 1
        heights.append(48 + size + 14 * outs + 30)
    svg = Svg(640, sum(heights) + 10)
    y0 = 10
    for (title, n, p, k, s, d), h in zip(cases, heights):
        outs = (n + 2 * p - d * (k - 1) - 1) // s + 1
        svg.text(20, y0 + 20, title, 14, anchor="start", weight="bold")
        x0 = 40
        top = y0 + 34
        read = set()
        for o in range(outs):
            read.update(o * s + t * d for t in range(k))
        for c in range(n + 2 * p):
            pad = c < p or c >= n + p
            idx = c - p
            fill = PAD_FILL if pad else ("white" if c in read else "#f6d5d5")
            svg.rect(x0 + c * size, top, size, size, fill)
            svg.text(x0 + c * size + size / 2, top + size / 2 + 5, "0" if pad else str(idx),
                     13, fill=MUTED if pad else INK)
        note = "grey: padding" if p else ("pink: never read" if len(read) < n else "")
        svg.text(x0 + (n + 2 * p) * size + 12, top + size / 2 + 5, note, 12, anchor="start",
                 fill=MUTED)
        for o in range(outs):
            yy = top + size + 12 + 14 * o
            first = o * s
            last = o * s + (k - 1) * d
            color = WINDOW if o % 2 == 0 else SECOND
            svg.line(x0 + first * size + 6, yy, x0 + last * size + size - 6, yy, color, 2.5)
            for t in range(k):
                svg.circle(x0 + (first + t * d) * size + size / 2, yy, 4, color)
            svg.text(x0 + (n + 2 * p) * size + 12, yy + 4, f"out {o}", 12, anchor="start",
                     fill=color)
        y0 += h
    svg.save("conv_strides.svg")


def im2col():
    """im2col of a 3x3 input for a 2x2 filter, the forward GEMM, and the backward."""
    x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    w = [[1, 2], [3, 4]]
    taps = [(0, 0), (0, 1), (1, 0), (1, 1)]
    outs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    cols = [[x[i + a][j + b] for (i, j) in outs] for (a, b) in taps]
    wrow = [w[a][b] for (a, b) in taps]
    y = [sum(wrow[t] * cols[t][l] for t in range(4)) for l in range(4)]
    assert y == [27, 37, 57, 67], y
    dw = [sum(row) for row in cols]
    assert dw == [8, 12, 20, 24], dw
    dx = [[0] * 3 for _ in range(3)]
    for t, (a, b) in enumerate(taps):
        for (i, j) in outs:
            dx[i + a][j + b] += wrow[t]
    assert dx == [[1, 3, 2], [4, 10, 6], [3, 7, 4]], dx

    svg = Svg(900, 470)
    # Row 1: forward.
    svg.text(20, 28, "Forward: unroll each 2×2 window into a column, then one matrix product",
             15, anchor="start", weight="bold")
    ix, iy = 20, 70
    svg.text(ix + 54, iy - 10, "input x", 14)
    fills = [["white"] * 3 for _ in range(3)]
    svg.grid(ix, iy, x, fills)
    svg.outline(ix + CELL, iy, 2 * CELL, 2 * CELL, SECOND, 3)
    svg.text(ix + 54, iy + 3 * CELL + 22, "window of y[0, 1]", 12, fill=SECOND)
    kx = 160
    svg.text(kx + 36, iy - 10, "filter w", 14)
    svg.grid(kx, iy + 18, w, [[KERNEL_FILL] * 2] * 2)
    svg.arrow(kx + 2 * CELL + 12, iy + 54, kx + 2 * CELL + 62, iy + 54)
    svg.text(kx + 2 * CELL + 37, iy + 44, "im2col", 12, fill=MUTED)
    cx = 330
    svg.text(cx + 72, iy - 10, "cols [4 taps × 4 outputs]", 14)
    svg.grid(cx, iy - 0, cols, [["white"] * 4 for _ in range(4)], size=CELL)
    svg.outline(cx + CELL, iy, CELL, 4 * CELL, SECOND, 3)
    for t, (a, b) in enumerate(taps):
        svg.text(cx - 8, iy + t * CELL + 23, f"w{a}{b}", 12, anchor="end", fill=MUTED)
    for l, (i, j) in enumerate(outs):
        svg.text(cx + l * CELL + 18, iy + 4 * CELL + 16, f"y{i}{j}", 12, fill=MUTED)
    mx = 530
    svg.text(mx, iy + 40, "W [1 × 4] · cols [4 × 4] = y [1 × 4]", 14, anchor="start")
    svg.grid(mx, iy + 56, [wrow], [[KERNEL_FILL] * 4])
    svg.text(mx + 4 * CELL + 12, iy + 80, "·  cols  =", 14, anchor="start")
    svg.grid(mx + 4 * CELL + 80, iy + 56, [y], [[OUT_FILL] * 4])
    svg.outline(mx + 4 * CELL + 80 + CELL, iy + 56, CELL, CELL, SECOND, 3)
    svg.text(mx, iy + 130, "y[0, 1] = 1·1 + 2·2 + 3·4 + 4·5 = 37", 13, anchor="start",
             fill=SECOND)

    # Row 2: backward with G = dL/dy = ones.
    by = 290
    svg.text(20, by - 28, "Backward, for L = sum(y), so G = dL/dy = [1, 1, 1, 1]", 15,
             anchor="start", weight="bold")
    svg.text(20, by, "dW = G · colsᵀ (row sums of cols):", 14, anchor="start")
    svg.grid(20, by + 14, [dw], [[KERNEL_FILL] * 4])
    svg.text(20, by + 76, "db = sum of G = 4", 14, anchor="start")
    svg.text(20, by + 104, "each tap's gradient is the sum of the", 12, anchor="start", fill=MUTED)
    svg.text(20, by + 120, "input pixels it touched", 12, anchor="start", fill=MUTED)
    dcx = 330
    svg.text(dcx, by, "dcols = Wᵀ · G: each column is w", 14, anchor="start")
    svg.grid(dcx, by + 14, [[wrow[t]] * 4 for t in range(4)],
             [["white"] * 4 for _ in range(4)], size=28, font=12)
    svg.arrow(dcx + 4 * 28 + 14, by + 70, dcx + 4 * 28 + 74, by + 70)
    svg.text(dcx + 4 * 28 + 44, by + 60, "col2im", 12, fill=MUTED)
    dxx = 560
    svg.text(dxx, by, "dX: each pixel adds up the taps", 14, anchor="start")
    svg.text(dxx, by + 16, "of every window that covered it", 14, anchor="start")
    svg.grid(dxx, by + 30, dx, [[INPUT_HI] * 3 for _ in range(3)])
    svg.text(dxx + 3 * CELL + 14, by + 30 + 62, "dX[1, 1] = 4 + 3 + 2 + 1 = 10", 13,
             anchor="start", fill=WINDOW)
    svg.outline(dxx + CELL, by + 30 + CELL, CELL, CELL)
    svg.save("conv_im2col.svg")


if __name__ == "__main__":
    sliding_window()
    strips()
    im2col()
