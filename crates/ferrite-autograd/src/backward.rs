//! The reverse-mode walk: [`Var::backward`] and [`Var::backward_with`].
//!
//! Nodes are visited in decreasing id (creation) order, which is a topological order because
//! an op's output is always created after its inputs. The walk is iterative, visits only
//! branches that lead to a leaf needing a gradient, and frees each op's saved tensors as it
//! passes through it.

use std::collections::{HashMap, HashSet};

use ferrite_tensor::{Float, Result, Tensor, TensorError};

use crate::var::{GradFn, Node, NodeKind, Var, lock};
use crate::{Grads, VarGrads, mode};

impl<T: Float> Var<T> {
    /// Backpropagates from a one-element result: afterwards every parameter it depends on
    /// has `d(self)/d(parameter)` added to its [`grad`](Var::grad).
    ///
    /// The graph is freed on the way (as PyTorch without `retain_graph`): a second backward
    /// through the same results is an error; build the graph again instead.
    ///
    /// # Errors
    /// When `self` has more than one element (use [`backward_with`](Var::backward_with)),
    /// does not require a gradient, or its graph was already freed; in anomaly mode, when a
    /// gradient contains NaN or infinity.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f64>::full(&[2], 3.0));
    /// let loss = w.mul(&w)?.sum_all()?;
    /// loss.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![6.0, 6.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn backward(&self) -> Result<()> {
        let shape = self.shape();
        if shape.iter().product::<usize>() != 1 {
            return Err(TensorError::shape(
                "backward",
                format!(
                    "backward() needs a result with one element, found shape {shape:?}; use backward_with(grad_output)"
                ),
            ));
        }
        self.backward_with(&Tensor::ones(&shape))
    }

    /// Backpropagates `grad_output` (the gradient of some scalar with respect to `self`,
    /// same shape as `self`), like `tensor.backward(gradient)`.
    ///
    /// # Errors
    /// When `grad_output`'s shape differs from `self`'s, `self` does not require a gradient,
    /// or the graph was already freed by an earlier backward.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// let y = w.mul_scalar(5.0)?;
    /// y.backward_with(&Tensor::from_vec(vec![1.0, 2.0], &[2])?)?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![5.0, 10.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn backward_with(&self, grad_output: &Tensor<T>) -> Result<()> {
        if grad_output.shape() != self.shape().as_slice() {
            return Err(TensorError::shape(
                "backward",
                format!(
                    "grad_output has shape {:?} but the result has shape {:?}",
                    grad_output.shape(),
                    self.shape()
                ),
            ));
        }
        if !self.requires_grad() {
            return Err(TensorError::invalid(
                "backward",
                "the result does not require a gradient: no parameter was involved, or it was computed under no_grad",
            ));
        }
        let pass = Pass {
            retain_graph: false,
            accumulate: true,
            capture: HashMap::new(),
            stop: HashSet::new(),
        };
        run_pass(vec![(self.clone(), grad_output.clone())], &pass)?;
        Ok(())
    }

    /// [`backward_with`](Var::backward_with) that keeps the graph, so a second backward
    /// through the same results works (`tensor.backward(gradient, retain_graph=True)`).
    ///
    /// # Errors
    /// As [`backward_with`](Var::backward_with).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// let loss = w.mul(&w)?.sum_all()?;
    /// loss.backward_retain_graph(&Tensor::scalar(1.0))?;
    /// loss.backward()?; // the graph is still there; gradients add up
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![4.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn backward_retain_graph(&self, grad_output: &Tensor<T>) -> Result<()> {
        check_root("backward", 0, self, grad_output.shape())?;
        let pass = Pass {
            retain_graph: true,
            accumulate: true,
            capture: HashMap::new(),
            stop: HashSet::new(),
        };
        run_pass(vec![(self.clone(), grad_output.clone())], &pass)?;
        Ok(())
    }
}

/// Checks that `output` (element `i` of the outputs) can start a backward pass with a
/// gradient of shape `grad_shape`.
pub(crate) fn check_root<T: Float>(
    op: &'static str,
    i: usize,
    output: &Var<T>,
    grad_shape: &[usize],
) -> Result<()> {
    if grad_shape != output.shape().as_slice() {
        return Err(TensorError::shape(
            op,
            format!(
                "grad_output {i} has shape {grad_shape:?} but output {i} has shape {:?}",
                output.shape()
            ),
        ));
    }
    if !output.requires_grad() {
        return Err(TensorError::invalid(
            op,
            format!(
                "output {i} does not require a gradient: no parameter was involved, or it was computed under no_grad"
            ),
        ));
    }
    Ok(())
}

/// How one backward pass runs.
pub(crate) struct Pass {
    /// Keep every op's backward (a later pass may go through the same graph).
    pub(crate) retain_graph: bool,
    /// Add gradients into `.grad` of leaves and of values that retain theirs (`backward`);
    /// `grad()` does not.
    pub(crate) accumulate: bool,
    /// Node ids whose gradient the caller wants back, with their position in the result.
    pub(crate) capture: HashMap<u64, usize>,
    /// Node ids the pass does not go beyond (their inputs are neither visited nor given a
    /// gradient): the boundary of a double backward's own small graph.
    pub(crate) stop: HashSet<u64>,
}

/// A gradient flowing backwards: a tensor in a first-order pass, or a `Var` on its own graph
/// when the pass creates one (`create_graph`).
pub(crate) trait Flow<T: Float>: Clone + Sized {
    fn add(&self, other: &Self) -> Result<Self>;
    fn value(&self) -> Tensor<T>;
    /// Runs `var`'s hooks on this gradient.
    fn hooked(self, var: &Var<T>) -> Result<Self>;
    /// The op's input gradients for output gradient `g`, one per input (`None` where not needed).
    fn through(
        op: &'static str,
        f: &GradFn<T>,
        g: &Self,
        needs: Vec<bool>,
    ) -> Result<Vec<Option<Self>>>;
}

impl<T: Float> Flow<T> for Tensor<T> {
    fn add(&self, other: &Self) -> Result<Self> {
        Tensor::add(self, other)
    }

    fn value(&self) -> Tensor<T> {
        self.clone()
    }

    fn hooked(self, var: &Var<T>) -> Result<Self> {
        Ok(var.run_hooks(Var::new(self))?.value())
    }

    fn through(
        _: &'static str,
        f: &GradFn<T>,
        g: &Self,
        needs: Vec<bool>,
    ) -> Result<Vec<Option<Self>>> {
        let mut grads = Grads::new(needs);
        (f.backward)(g, &mut grads)?;
        Ok(grads.into_vec())
    }
}

impl<T: Float> Flow<T> for Var<T> {
    fn add(&self, other: &Self) -> Result<Self> {
        Var::add(self, other)
    }

    fn value(&self) -> Tensor<T> {
        Var::value(self)
    }

    fn hooked(self, var: &Var<T>) -> Result<Self> {
        var.run_hooks(self)
    }

    fn through(
        op: &'static str,
        f: &GradFn<T>,
        g: &Self,
        needs: Vec<bool>,
    ) -> Result<Vec<Option<Self>>> {
        if let Some(double) = &f.double_backward {
            let mut grads = VarGrads::new(needs);
            double(g, &f.inputs, &mut grads)?;
            return Ok(grads.into_vec());
        }
        // No double backward: compute the gradient on tensors and record it as an op whose
        // own backward refuses, so a first derivative works and a second one is an error.
        let mut grads = Grads::new(needs);
        (f.backward)(&g.value(), &mut grads)?;
        let mut depends_on: Vec<&Var<T>> = vec![g];
        depends_on.extend(f.inputs.iter());
        grads
            .into_vec()
            .into_iter()
            .map(|grad| {
                grad.map(|t| no_double_backward(op, t, &depends_on))
                    .transpose()
            })
            .collect()
    }
}

/// The gradients of `output` (seeded with `grad_output`) with respect to `targets`, on a
/// graph of their own, walking no further back than `stops` (which include the targets):
/// how a double backward differentiates a small recomputation of its op.
pub(crate) fn grad_within<T: Float>(
    output: &Var<T>,
    grad_output: &Var<T>,
    targets: &[Var<T>],
    stops: &[Var<T>],
) -> Result<Vec<Option<Var<T>>>> {
    if !output.requires_grad() {
        return Ok(vec![None; targets.len()]);
    }
    // The gradients refer to the recomputation's nodes (mul's double backward uses its
    // inputs), so its graph must stay differentiable: retained, as create_graph implies.
    let pass = Pass {
        retain_graph: true,
        accumulate: false,
        capture: (targets.iter().enumerate())
            .map(|(i, t)| (t.node.id, i))
            .collect(),
        stop: stops.iter().map(|s| s.node.id).collect(),
    };
    mode::enable_grad(|| run_pass(vec![(output.clone(), grad_output.clone())], &pass))
}

/// A gradient computed by `op`'s first-order backward during a `create_graph` pass.
fn no_double_backward<T: Float>(
    op: &'static str,
    grad: Tensor<T>,
    depends_on: &[&Var<T>],
) -> Result<Var<T>> {
    Var::from_op("first_order_backward", grad, depends_on, move |_, _| {
        Err(TensorError::invalid(
            "backward",
            format!(
                "the gradient of '{op}' was computed with create_graph, but '{op}' has no double backward: it cannot be differentiated again"
            ),
        ))
    })
}

/// Runs one backward pass from `roots` (each output with its gradient) and returns the
/// gradients of the captured nodes.
pub(crate) fn run_pass<T: Float, G: Flow<T>>(
    roots: Vec<(Var<T>, G)>,
    pass: &Pass,
) -> Result<Vec<Option<G>>> {
    let mut grads: HashMap<u64, G> = HashMap::new();
    for (root, g) in &roots {
        accumulate(&mut grads, root.node.id, g.clone())?;
    }
    let nodes = reachable_nodes(roots.iter().map(|(v, _)| v.clone()).collect(), &pass.stop);
    let needed = needed_nodes(&nodes, pass);
    let mut captured: Vec<Option<G>> = vec![None; pass.capture.len()];
    for (var, depth) in &nodes {
        let node = &var.node;
        let Some(mut grad) = grads.remove(&node.id) else {
            continue;
        };
        if var.has_hooks() {
            grad = grad.hooked(var)?;
        }
        if let Some(&slot) = pass.capture.get(&node.id) {
            captured[slot] = Some(grad.clone());
        }
        if pass.accumulate && var.keeps_grad() {
            accumulate_into_grad(node, grad.value())?;
        }
        if node.kind == NodeKind::Leaf || !needed(node.id) || pass.stop.contains(&node.id) {
            continue;
        }
        let grad_fn = if pass.retain_graph {
            lock(&node.grad_fn).clone()
        } else {
            lock(&node.grad_fn).take()
        };
        let Some(grad_fn) = grad_fn else {
            return Err(freed(node));
        };
        let needs: Vec<bool> = (grad_fn.inputs.iter())
            .map(|v| v.requires_grad() && needed(v.node.id))
            .collect();
        if !needs.contains(&true) {
            continue;
        }
        let input_grads = G::through(node.op, &grad_fn, &grad, needs)?;
        for (i, (input, g)) in grad_fn.inputs.iter().zip(input_grads).enumerate() {
            let Some(g) = g else { continue };
            check_input_grad(node, *depth, &grad.value(), i, input, &g.value())?;
            accumulate(&mut grads, input.node.id, g)?;
        }
        // `grad_fn` drops here: unless retained, the op's saved tensors are freed.
    }
    Ok(captured)
}

fn accumulate<T: Float, G: Flow<T>>(grads: &mut HashMap<u64, G>, id: u64, g: G) -> Result<()> {
    let total = match grads.remove(&id) {
        Some(acc) => acc.add(&g)?,
        None => g,
    };
    grads.insert(id, total);
    Ok(())
}

/// The inputs recorded in `node` (none once its graph is freed).
fn inputs_of<T: Float>(node: &Node<T>) -> Vec<Var<T>> {
    lock(&node.grad_fn)
        .as_ref()
        .map(|g| g.inputs.clone())
        .unwrap_or_default()
}

/// Which nodes the pass must go through: all of them when gradients accumulate into
/// `.grad`; otherwise those on a path to a captured node (an op whose graph was freed
/// counts, so that the pass reports it).
fn needed_nodes<T: Float>(nodes: &[(Var<T>, usize)], pass: &Pass) -> impl Fn(u64) -> bool {
    let mut needed: HashSet<u64> = HashSet::new();
    let everything = pass.accumulate;
    if !everything {
        for (var, _) in nodes.iter().rev() {
            let node = &var.node;
            let freed_op = node.kind == NodeKind::Op && lock(&node.grad_fn).is_none();
            if pass.capture.contains_key(&node.id)
                || freed_op
                || inputs_of(node).iter().any(|v| needed.contains(&v.node.id))
            {
                needed.insert(node.id);
            }
        }
    }
    move |id| everything || needed.contains(&id)
}

fn freed<T: Float>(node: &Node<T>) -> TensorError {
    TensorError::invalid(
        "backward",
        format!(
            "the graph through '{}' was already freed by an earlier backward; compute the result again, or keep the graph with retain_graph",
            node.op
        ),
    )
}

/// Adds `grad` into the node's `.grad` (a leaf, or a value that retains its gradient).
fn accumulate_into_grad<T: Float>(node: &Node<T>, grad: Tensor<T>) -> Result<()> {
    let mut slot = lock(&node.grad);
    *slot = Some(match slot.take() {
        Some(acc) => acc.add(&grad)?,
        None => grad,
    });
    Ok(())
}

fn check_input_grad<T: Float>(
    node: &Node<T>,
    depth: usize,
    grad_output: &Tensor<T>,
    i: usize,
    input: &Var<T>,
    g: &Tensor<T>,
) -> Result<()> {
    if g.shape() != input.shape().as_slice() {
        return Err(TensorError::shape(
            "backward",
            format!(
                "the backward of '{}' returned a gradient of shape {:?} for input {i} of shape {:?}",
                node.op,
                g.shape(),
                input.shape()
            ),
        ));
    }
    if mode::is_anomaly_enabled() && !g.all_finite() {
        return Err(TensorError::invalid(
            "detect_anomaly",
            format!(
                "backward of '{}' (node {}, {} ops from the result) produced NaN or infinity in the gradient of input {i} (input shapes {:?}, output gradient finite: {})",
                node.op,
                node.id,
                depth,
                node.input_shapes,
                grad_output.all_finite()
            ),
        ));
    }
    Ok(())
}

/// Every node reachable from `root` through inputs that require a gradient, with its
/// distance from the root, in decreasing id order (a topological order).
fn reachable_nodes<T: Float>(roots: Vec<Var<T>>, stop: &HashSet<u64>) -> Vec<(Var<T>, usize)> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out: Vec<(Var<T>, usize)> = Vec::new();
    let mut stack: Vec<(Var<T>, usize)> = Vec::new();
    for root in roots {
        if seen.insert(root.node.id) {
            stack.push((root, 0));
        }
    }
    while let Some((var, depth)) = stack.pop() {
        let inputs = if stop.contains(&var.node.id) {
            Vec::new()
        } else {
            var.inputs()
        };
        for input in inputs {
            if input.requires_grad() && seen.insert(input.node.id) {
                stack.push((input, depth + 1));
            }
        }
        out.push((var, depth));
    }
    out.sort_unstable_by_key(|(var, _)| std::cmp::Reverse(var.node.id));
    out
}
