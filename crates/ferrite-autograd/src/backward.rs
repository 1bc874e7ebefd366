//! The reverse-mode walk: [`Var::backward`] and [`Var::backward_with`].
//!
//! Nodes are visited in decreasing id (creation) order, which is a topological order because
//! an op's output is always created after its inputs. The walk is iterative, visits only
//! branches that lead to a leaf needing a gradient, and frees each op's saved tensors as it
//! passes through it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferrite_tensor::{Float, Result, Tensor, TensorError};

use crate::var::{Node, NodeKind, Var, lock};
use crate::{Grads, mode};

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
        let mut grads: HashMap<u64, Tensor<T>> = HashMap::new();
        grads.insert(self.node.id, grad_output.clone());
        for (node, depth) in &reachable_nodes(self) {
            let Some(grad) = grads.remove(&node.id) else {
                continue;
            };
            let grad_fn = lock(&node.grad_fn).take();
            let Some(grad_fn) = grad_fn else {
                accumulate_into_leaf(node, grad)?;
                continue;
            };
            let mut input_grads = Grads::new(grad_fn.inputs.iter().map(|v| v.requires_grad()));
            (grad_fn.backward)(&grad, &mut input_grads)?;
            for (i, (input, g)) in grad_fn
                .inputs
                .iter()
                .zip(input_grads.into_vec())
                .enumerate()
            {
                let Some(g) = g else { continue };
                check_input_grad(node, *depth, &grad, i, input, &g)?;
                match grads.remove(&input.node.id) {
                    Some(acc) => grads.insert(input.node.id, acc.add(&g)?),
                    None => grads.insert(input.node.id, g),
                };
            }
            // `grad_fn` drops here: the op's saved tensors are freed.
        }
        Ok(())
    }
}

/// Adds `grad` into a leaf's `.grad`; a non-leaf without its recorded op was freed by an
/// earlier backward.
fn accumulate_into_leaf<T: Float>(node: &Node<T>, grad: Tensor<T>) -> Result<()> {
    if node.kind != NodeKind::Leaf {
        return Err(TensorError::invalid(
            "backward",
            format!(
                "the graph through '{}' was already freed by an earlier backward; compute the result again",
                node.op
            ),
        ));
    }
    let mut slot = lock(&node.grad);
    *slot = Some(match slot.take() {
        Some(acc) => acc.add(&grad)?,
        None => grad,
    });
    Ok(())
}

/// The gradient `g` an op's backward set for its input `i`: of the input's shape, and in
/// anomaly mode finite.
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
fn reachable_nodes<T: Float>(root: &Var<T>) -> Vec<(Arc<Node<T>>, usize)> {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out: Vec<(Arc<Node<T>>, usize)> = Vec::new();
    let mut stack: Vec<(Var<T>, usize)> = vec![(root.clone(), 0)];
    seen.insert(root.node.id);
    while let Some((var, depth)) = stack.pop() {
        for input in var.inputs() {
            if input.requires_grad() && seen.insert(input.node.id) {
                stack.push((input, depth + 1));
            }
        }
        out.push((Arc::clone(&var.node), depth));
    }
    out.sort_unstable_by_key(|(node, _)| std::cmp::Reverse(node.id));
    out
}
