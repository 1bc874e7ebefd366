//! [`to_dot`]: the graph behind a result as Graphviz DOT text, like torchviz's `make_dot`.
//!
//! The graph only exists between the forward pass and `backward()` (which frees it as it
//! walks), so export it before calling `backward()`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use ferrite_tensor::Float;

use crate::Var;

/// The autograd graph behind `root` as Graphviz DOT text: one node per [`Var`] reachable
/// through the inputs of recorded ops, and an edge from each input to the op that used it.
///
/// Each node shows what made it and its shape:
/// - parameters (leaves that require a gradient): light blue boxes, `parameter` and the shape;
/// - constants (leaves without gradient, and results computed from constants only): grey
///   boxes, `constant` (or the op's name) and the shape;
/// - op results: white ellipses with the op's name ([`Var::op`]) and the shape; `root` is
///   filled green, as in torchviz.
///
/// Render the text with Graphviz: `dot -Tsvg graph.dot -o graph.svg`. Call it before
/// [`Var::backward`]: backward frees the graph, after which only `root` remains (drawn
/// dashed, marked "graph freed by backward"). The walk is iterative, so deep graphs are
/// fine. Use [`to_dot_with_names`] to label parameters with their names.
///
/// ```
/// use ferrite_autograd::{to_dot, Var};
/// use ferrite_tensor::{Conv2dParams, Tensor};
///
/// // conv1 -> ReLU -> sum: a 9x9 image, one 3x3 filter with a bias, stride 2.
/// let x = Var::new(Tensor::<f32>::ones(&[1, 1, 9, 9]));
/// let w = Var::parameter(Tensor::<f32>::ones(&[1, 1, 3, 3]));
/// let b = Var::parameter(Tensor::<f32>::zeros(&[1]));
/// let params = Conv2dParams::default().with_stride([2, 2]);
/// let y = x.conv2d(&w, Some(&b), &params)?.relu()?.sum_all()?;
///
/// let dot = to_dot(&y);
/// assert!(dot.starts_with("digraph autograd {"));
/// assert!(dot.contains(r#"label="conv2d\n[1, 1, 4, 4]""#));
/// assert!(dot.contains(r#"label="parameter\n[1, 1, 3, 3]""#));
/// assert!(dot.contains(r#"label="constant\n[1, 1, 9, 9]""#));
/// assert_eq!(dot.matches(" -> ").count(), 5); // x, w, b -> conv2d -> relu -> sum
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn to_dot<T: Float>(root: &Var<T>) -> String {
    to_dot_with_names(root, &[])
}

/// [`to_dot`], with the `Var`s listed in `names` labelled by their names: pass
/// `model.named_parameters()` to see `conv1.weight` instead of `parameter`. Names may be
/// given to any `Var` (an input, an intermediate result); `Var`s not in the graph are ignored.
///
/// ```
/// use ferrite_autograd::{to_dot_with_names, Var};
/// use ferrite_tensor::Tensor;
///
/// let x = Var::new(Tensor::<f64>::ones(&[2, 3]));
/// let w = Var::parameter(Tensor::<f64>::ones(&[4, 3]));
/// let y = x.linear(&w, None)?.sum_all()?;
/// let dot = to_dot_with_names(&y, &[("fc.weight".to_string(), w.clone()), ("input".to_string(), x)]);
/// assert!(dot.contains(r#"label="fc.weight\n[4, 3]""#));
/// assert!(dot.contains(r#"label="input\n[2, 3]""#));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn to_dot_with_names<T: Float>(root: &Var<T>, names: &[(String, Var<T>)]) -> String {
    let names: HashMap<u64, &str> = names.iter().map(|(n, v)| (v.id(), n.as_str())).collect();

    // Depth-first walk with an explicit stack: a chain of 100,000 ops must not overflow.
    let mut nodes: Vec<Var<T>> = Vec::new();
    let mut edges: Vec<(u64, u64)> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::from([root.id()]);
    let mut stack: Vec<Var<T>> = vec![root.clone()];
    while let Some(var) = stack.pop() {
        for input in var.inputs() {
            // One edge per use: `x.mul(&x)` draws two arrows from x.
            edges.push((input.id(), var.id()));
            if seen.insert(input.id()) {
                stack.push(input);
            }
        }
        nodes.push(var);
    }
    // Creation order: inputs before the ops that use them, the same text on every run.
    nodes.sort_by_key(Var::id);
    edges.sort_unstable();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "digraph autograd {{\n    // {} nodes, {} edges; render with: dot -Tsvg graph.dot -o graph.svg",
        nodes.len(),
        edges.len()
    );
    out.push_str(
        "    node [fontname=\"Helvetica\", fontsize=12, style=filled, fillcolor=white];\n",
    );
    for var in &nodes {
        let shape = format!("{:?}", var.shape());
        let name = names.get(&var.id()).copied();
        let kind = kind(var);
        let title = match (kind, name) {
            (Kind::Op | Kind::Freed, Some(name)) => format!("{name} ({})", var.op()),
            (_, Some(name)) => name.to_string(),
            (Kind::Parameter, None) => "parameter".to_string(),
            (Kind::Constant, None) if var.op() == "leaf" => "constant".to_string(),
            (_, None) => var.op().to_string(),
        };
        let mut label = format!("{title}\n{shape}");
        if kind == Kind::Freed {
            label.push_str("\n(graph freed by backward)");
        }
        let style = match kind {
            Kind::Parameter => "shape=box, fillcolor=lightblue",
            Kind::Constant => "shape=box, fillcolor=lightgrey",
            Kind::Op if var.id() == root.id() => "shape=ellipse, fillcolor=darkolivegreen1",
            Kind::Op => "shape=ellipse",
            Kind::Freed => "shape=ellipse, style=dashed",
        };
        let _ = writeln!(
            out,
            "    n{} [label=\"{}\", {style}];",
            var.id(),
            escape(&label)
        );
    }
    for (from, to) in &edges {
        let _ = writeln!(out, "    n{from} -> n{to};");
    }
    out.push_str("}\n");
    out
}

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A leaf that requires a gradient.
    Parameter,
    /// Anything that requires no gradient: constant leaves, results of constants only.
    Constant,
    /// The result of a recorded op whose inputs are still attached.
    Op,
    /// The result of a recorded op whose graph `backward` has already freed.
    Freed,
}

fn kind<T: Float>(var: &Var<T>) -> Kind {
    if !var.requires_grad() {
        Kind::Constant
    } else if var.is_leaf() {
        Kind::Parameter
    } else if var.inputs().is_empty() {
        Kind::Freed
    } else {
        Kind::Op
    }
}

/// `s` as the inside of a DOT string: quotes and backslashes escaped, newlines as `\n`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::no_grad;
    use ferrite_tensor::{Conv2dParams, Tensor};

    /// The node lines (`n12 [label=...]`) of a DOT text.
    fn node_lines(dot: &str) -> Vec<&str> {
        dot.lines()
            .map(str::trim)
            .filter(|l| l.starts_with('n') && l.contains(" [label="))
            .collect()
    }

    /// The edges of a DOT text as `(from, to)` node names.
    fn edge_list(dot: &str) -> Vec<(String, String)> {
        dot.lines()
            .filter_map(|l| l.trim().strip_suffix(';')?.split_once(" -> "))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn conv_relu_sum_has_one_node_per_var_and_one_edge_per_input() {
        let x = Var::new(Tensor::<f64>::ones(&[1, 1, 9, 9]));
        let w = Var::parameter(Tensor::<f64>::ones(&[16, 1, 3, 3]));
        let b = Var::parameter(Tensor::<f64>::zeros(&[16]));
        let conv = x
            .conv2d(&w, Some(&b), &Conv2dParams::default().with_stride([2, 2]))
            .unwrap();
        let relu = conv.relu().unwrap();
        let total = relu.sum_all().unwrap();
        let dot = to_dot_with_names(
            &total,
            &[
                ("conv1.weight".to_string(), w.clone()),
                ("conv1.bias".to_string(), b.clone()),
            ],
        );

        let nodes = node_lines(&dot);
        assert_eq!(nodes.len(), 6, "{dot}");
        let label = |v: &Var<f64>| {
            let prefix = format!("n{} [label=", v.id());
            nodes
                .iter()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no node for id {} in\n{dot}", v.id()))
                .to_string()
        };
        assert!(label(&x).contains(r#""constant\n[1, 1, 9, 9]", shape=box, fillcolor=lightgrey"#));
        assert!(
            label(&w).contains(r#""conv1.weight\n[16, 1, 3, 3]", shape=box, fillcolor=lightblue"#)
        );
        assert!(label(&b).contains(r#""conv1.bias\n[16]""#));
        assert!(label(&conv).contains(r#""conv2d\n[1, 16, 4, 4]", shape=ellipse]"#));
        assert!(label(&relu).contains(r#""relu\n[1, 16, 4, 4]""#));
        assert!(label(&total).contains(r#""sum\n[]", shape=ellipse, fillcolor=darkolivegreen1"#));

        let n = |v: &Var<f64>| format!("n{}", v.id());
        let mut want = vec![
            (n(&x), n(&conv)),
            (n(&w), n(&conv)),
            (n(&b), n(&conv)),
            (n(&conv), n(&relu)),
            (n(&relu), n(&total)),
        ];
        want.sort();
        let mut got = edge_list(&dot);
        got.sort();
        assert_eq!(got, want);
        assert!(dot.starts_with("digraph autograd {\n    // 6 nodes, 5 edges;"));
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn without_names_parameters_say_parameter() {
        let w = Var::parameter(Tensor::<f32>::ones(&[16, 1, 3, 3]));
        let dot = to_dot(&w.exp().unwrap());
        assert!(dot.contains(r#"label="parameter\n[16, 1, 3, 3]""#), "{dot}");
        assert!(dot.contains(r#"label="exp\n[16, 1, 3, 3]""#), "{dot}");
    }

    #[test]
    fn a_var_used_twice_is_one_node_with_two_edges() {
        let x = Var::parameter(Tensor::<f64>::ones(&[2]));
        let y = x.mul(&x).unwrap();
        let dot = to_dot(&y);
        assert_eq!(node_lines(&dot).len(), 2);
        let edge = (format!("n{}", x.id()), format!("n{}", y.id()));
        assert_eq!(edge_list(&dot), vec![edge.clone(), edge]);
    }

    #[test]
    fn named_intermediates_keep_their_op_and_quotes_are_escaped() {
        let x = Var::parameter(Tensor::<f64>::ones(&[2]));
        let y = x.tanh().unwrap();
        let dot = to_dot_with_names(&y, &[("my \"out\"".to_string(), y.clone())]);
        assert!(dot.contains(r#"label="my \"out\" (tanh)\n[2]""#), "{dot}");
    }

    #[test]
    fn after_backward_only_the_freed_root_is_left() {
        let x = Var::parameter(Tensor::<f64>::ones(&[3]));
        let y = x.exp().unwrap().sum_all().unwrap();
        assert_eq!(node_lines(&to_dot(&y)).len(), 3);
        y.backward().unwrap();
        let dot = to_dot(&y);
        assert_eq!(node_lines(&dot).len(), 1, "{dot}");
        assert!(
            dot.contains(r#"sum\n[]\n(graph freed by backward)", shape=ellipse, style=dashed"#)
        );
        assert!(edge_list(&dot).is_empty());
    }

    #[test]
    fn results_of_constants_and_no_grad_are_grey_leaves() {
        let w = Var::parameter(Tensor::<f64>::ones(&[2]));
        let y = no_grad(|| w.exp()).unwrap();
        let dot = to_dot(&y);
        assert_eq!(node_lines(&dot).len(), 1);
        assert!(
            dot.contains(r#"label="exp\n[2]", shape=box, fillcolor=lightgrey"#),
            "{dot}"
        );
    }

    #[test]
    fn a_deep_chain_does_not_overflow_the_stack() {
        let x = Var::parameter(Tensor::<f64>::ones(&[1]));
        let mut y = x.clone();
        for _ in 0..50_000 {
            y = y.add_scalar(1.0).unwrap();
        }
        let dot = to_dot(&y);
        assert_eq!(node_lines(&dot).len(), 50_001);
        assert_eq!(edge_list(&dot).len(), 50_000);
    }
}
