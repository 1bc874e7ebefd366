//! [`Var`]: a tensor that remembers how it was made, and the graph node behind it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};

use ferrite_tensor::{Float, Result, Tensor, TensorError};

use crate::hooks::Hook;
use crate::{Grads, VarGrads, mode};

/// The backward function of one op: given the gradient of the op's output, fills the
/// [`Grads`] slots of the inputs that need a gradient.
pub type BackwardFn<T> = Arc<dyn Fn(&Tensor<T>, &mut Grads<T>) -> Result<()> + Send + Sync>;

/// The double backward of one op (see [`Var::with_double_backward`]): given the gradient of
/// the op's output as a `Var` and the op's inputs, fills the [`VarGrads`] slots using `Var`
/// ops, so the gradients are themselves differentiable.
pub type DoubleBackwardFn<T> =
    Arc<dyn Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync>;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static LIVE_NODES: AtomicUsize = AtomicUsize::new(0);

/// The number of graph nodes (`Var`s, counting clones once) alive in the process: a leak
/// detector. A training loop that frees its graphs keeps this flat from step to step.
///
/// ```
/// use ferrite_autograd::{live_nodes, Var};
/// use ferrite_tensor::Tensor;
/// let x = Var::new(Tensor::<f32>::ones(&[1]));
/// assert!(live_nodes() >= 1); // x at least (other threads may hold nodes too)
/// drop(x);
/// ```
pub fn live_nodes() -> usize {
    LIVE_NODES.load(Ordering::Relaxed)
}

/// The recorded op that produced a non-leaf [`Var`]: its inputs and its backward functions.
/// Taken out of the node (and so freed) when `backward` runs through it, unless the graph is
/// retained.
#[derive(Clone)]
pub(crate) struct GradFn<T: Float> {
    pub(crate) inputs: Vec<Var<T>>,
    pub(crate) backward: BackwardFn<T>,
    pub(crate) double_backward: Option<DoubleBackwardFn<T>>,
}

/// What made a node: a leaf (a constant or a parameter, made by the user) or a recorded op.
/// Only leaves can be assigned and only leaves accumulate `.grad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Leaf,
    Op,
}

pub(crate) struct Node<T: Float> {
    /// Creation order: an op's output always has a larger id than its inputs.
    pub(crate) id: u64,
    pub(crate) kind: NodeKind,
    pub(crate) op: &'static str,
    pub(crate) value: RwLock<Tensor<T>>,
    pub(crate) requires_grad: bool,
    /// Accumulated gradient (leaves only).
    pub(crate) grad: Mutex<Option<Tensor<T>>>,
    pub(crate) grad_fn: Mutex<Option<GradFn<T>>>,
    /// Shapes of the op's inputs, kept after the graph is freed (for messages and `to_dot`).
    pub(crate) input_shapes: Vec<Vec<usize>>,
    /// Gradient hooks ([`Var::register_hook`]), in registration order, with their handles' ids.
    pub(crate) hooks: Mutex<Vec<(u64, Hook<T>)>>,
    /// Whether a non-leaf keeps its gradient in `grad` ([`Var::retain_grad`]).
    pub(crate) retains_grad: std::sync::atomic::AtomicBool,
}

impl<T: Float> Drop for Node<T> {
    // Dropping a long chain recursively would overflow the stack: unlink it iteratively,
    // taking ownership of every input that nobody else holds.
    fn drop(&mut self) {
        LIVE_NODES.fetch_sub(1, Ordering::Relaxed);
        let mut stack: Vec<Var<T>> = match self.grad_fn.get_mut() {
            Ok(slot) => slot.take().map(|g| g.inputs).unwrap_or_default(),
            Err(poisoned) => poisoned
                .into_inner()
                .take()
                .map(|g| g.inputs)
                .unwrap_or_default(),
        };
        while let Some(var) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(var.node) {
                let taken = match node.grad_fn.get_mut() {
                    Ok(slot) => slot.take(),
                    Err(poisoned) => poisoned.into_inner().take(),
                };
                if let Some(g) = taken {
                    stack.extend(g.inputs);
                }
            }
        }
    }
}

/// A tensor in the autograd graph: a value, and for results of ops, the op that made it.
///
/// Like PyTorch's tensors (and its `Variable` of old): create leaves with [`Var::new`]
/// (constants) or [`Var::parameter`] (gradients wanted), combine them with ops, then call
/// [`Var::backward`] on a scalar result; each parameter's [`Var::grad`] then holds
/// d(result)/d(parameter), accumulated across calls until [`Var::zero_grad`].
///
/// Cloning a `Var` is cheap and refers to the same node (the same parameter).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
/// let y = x.mul(&x)?.sum_all()?; // y = sum(x^2)
/// y.backward()?;
/// assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 4.0, 6.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Var<T: Float = f32> {
    pub(crate) node: Arc<Node<T>>,
}

impl<T: Float> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var {
            node: Arc::clone(&self.node),
        }
    }
}

impl<T: Float> std::fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var(id {}, op {}, requires_grad {}, {:?})",
            self.node.id,
            self.node.op,
            self.node.requires_grad,
            self.value()
        )
    }
}

impl<T: Float> Var<T> {
    fn make(
        kind: NodeKind,
        op: &'static str,
        value: Tensor<T>,
        requires_grad: bool,
        grad_fn: Option<GradFn<T>>,
        input_shapes: Vec<Vec<usize>>,
    ) -> Self {
        LIVE_NODES.fetch_add(1, Ordering::Relaxed);
        Var {
            node: Arc::new(Node {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                kind,
                op,
                value: RwLock::new(value),
                requires_grad,
                grad: Mutex::new(None),
                grad_fn: Mutex::new(grad_fn),
                input_shapes,
                hooks: Mutex::new(Vec::new()),
                retains_grad: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// A constant leaf: no gradient is computed for it.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::new(Tensor::<f32>::ones(&[2]));
    /// assert!(!x.requires_grad());
    /// ```
    pub fn new(value: Tensor<T>) -> Self {
        Self::make(NodeKind::Leaf, "leaf", value, false, None, Vec::new())
    }

    /// A leaf that requires a gradient: a parameter or an input to differentiate by.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::zeros(&[3, 3]));
    /// assert!(w.requires_grad() && w.is_leaf());
    /// ```
    pub fn parameter(value: Tensor<T>) -> Self {
        Self::make(NodeKind::Leaf, "parameter", value, true, None, Vec::new())
    }

    /// The result of a custom op: `value` computed from `inputs`, and `backward` mapping the
    /// output's gradient to one gradient per input. This is how every op in ferrite is built;
    /// use it to add your own.
    ///
    /// `backward(grad_output, grads)` sets the gradient of each input that needs one with
    /// [`Grads::set`] (slot `i` for `inputs[i]`; slots of inputs that need no gradient, and
    /// indices past the inputs, are skipped without calling the closure). Capture tensors (not `Var`s) in the closure. When gradients are disabled
    /// ([`no_grad`](crate::no_grad)) or no input requires one, nothing is recorded.
    ///
    /// # Errors
    /// In anomaly mode ([`detect_anomaly`](crate::detect_anomaly)), when `value` contains
    /// NaN or infinity; the message names `op` and its input shapes.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// // y = 3x, written as a custom op.
    /// fn triple(x: &Var<f64>) -> ferrite_tensor::Result<Var<f64>> {
    ///     Var::from_op("triple", x.value().mul_scalar(3.0), &[x], |g, grads| {
    ///         grads.set(0, || Ok(g.mul_scalar(3.0)))
    ///     })
    /// }
    /// let x = Var::parameter(Tensor::from_vec(vec![1.0, 2.0], &[2])?);
    /// triple(&x)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 3.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn from_op(
        op: &'static str,
        value: Tensor<T>,
        inputs: &[&Var<T>],
        backward: impl Fn(&Tensor<T>, &mut Grads<T>) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Var<T>> {
        let input_shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape()).collect();
        if mode::is_anomaly_enabled() && !value.all_finite() {
            return Err(TensorError::invalid(
                "detect_anomaly",
                format!(
                    "forward of '{op}' produced NaN or infinity (output shape {:?}, input shapes {:?})",
                    value.shape(),
                    input_shapes
                ),
            ));
        }
        let requires_grad = mode::is_grad_enabled() && inputs.iter().any(|v| v.requires_grad());
        if !requires_grad {
            return Ok(Self::make(
                NodeKind::Op,
                op,
                value,
                false,
                None,
                input_shapes,
            ));
        }
        let grad_fn = GradFn {
            inputs: inputs.iter().map(|&v| v.clone()).collect(),
            backward: Arc::new(backward),
            double_backward: None,
        };
        Ok(Self::make(
            NodeKind::Op,
            op,
            value,
            true,
            Some(grad_fn),
            input_shapes,
        ))
    }

    /// Gives the op that just made `self` a double backward: its gradient written in `Var`
    /// ops, used when gradients are computed with `create_graph` (see [`grad`](crate::grad))
    /// so that they can be differentiated again. `f` gets the output's gradient, the op's
    /// inputs and the slots to fill. Without one, an op's gradient can still be computed with
    /// `create_graph`, but differentiating through it is an error naming the op. Does nothing
    /// when `self` records no op (no input needed a gradient).
    ///
    /// ```
    /// use ferrite_autograd::{grad, GradOptions, Var};
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![3.0], &[1])?);
    /// let xv = x.value();
    /// let square = Var::from_op("square", xv.mul(&xv)?, &[&x], move |g, grads| {
    ///     grads.set(0, || g.mul(&xv.mul_scalar(2.0)))
    /// })?
    /// .with_double_backward(|g, inputs, grads| grads.set(0, || g.mul(&inputs[0].mul_scalar(2.0)?)));
    /// let options = GradOptions::default().with_create_graph(true);
    /// let dx = grad(&[square.sum_all()?], &[x.clone()], None, &options)?.remove(0).unwrap();
    /// let ddx = grad(&[dx.sum_all()?], &[x], None, &GradOptions::default())?.remove(0).unwrap();
    /// assert_eq!(ddx.value().to_vec(), vec![2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_double_backward(
        self,
        f: impl Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync + 'static,
    ) -> Var<T> {
        if let Some(grad_fn) = lock(&self.node.grad_fn).as_mut() {
            grad_fn.double_backward = Some(Arc::new(f));
        }
        self
    }

    /// The current value (a cheap, shared copy).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Var::new(Tensor::<f32>::ones(&[2])).value().to_vec(), vec![1.0, 1.0]);
    /// ```
    pub fn value(&self) -> Tensor<T> {
        read(&self.node.value).clone()
    }

    /// The shape of the value.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Var::new(Tensor::<f32>::ones(&[2, 3])).shape(), vec![2, 3]);
    /// ```
    pub fn shape(&self) -> Vec<usize> {
        read(&self.node.value).shape().to_vec()
    }

    /// The single value of a one-element `Var`.
    ///
    /// # Errors
    /// When the value has more or fewer than one element.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// assert_eq!(Var::new(Tensor::<f32>::scalar(2.0)).item()?, 2.0);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn item(&self) -> Result<T> {
        read(&self.node.value).item()
    }

    /// Replaces the value of a leaf (what an optimizer does to a parameter). Results computed
    /// earlier keep the value they saw.
    ///
    /// # Errors
    /// When the shape differs from the current one, or `self` is not a leaf.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::zeros(&[2]));
    /// w.set_value(Tensor::ones(&[2]))?;
    /// assert_eq!(w.value().to_vec(), vec![1.0, 1.0]);
    /// assert!(w.set_value(Tensor::ones(&[3])).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn set_value(&self, value: Tensor<T>) -> Result<()> {
        let mut slot = self.leaf_value_mut("set_value")?;
        if slot.shape() != value.shape() {
            return Err(TensorError::shape(
                "set_value",
                format!(
                    "expected a value of shape {:?}, found {:?}",
                    slot.shape(),
                    value.shape()
                ),
            ));
        }
        *slot = value;
        Ok(())
    }

    /// Updates the value of a leaf in place (what an optimizer step does): `f` gets its
    /// elements in row-major order and may change them. Results computed earlier keep the
    /// value they saw (the buffer is copied first if any of them still shares it), so this is
    /// [`set_value`](Var::set_value) without allocating a new tensor.
    ///
    /// # Errors
    /// When `self` is not a leaf.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::zeros(&[2]));
    /// let before = w.value();
    /// w.update_value(|v| v.iter_mut().for_each(|x| *x += 1.0))?;
    /// assert_eq!(w.value().to_vec(), vec![1.0, 1.0]);
    /// assert_eq!(before.to_vec(), vec![0.0, 0.0]);
    /// assert!(w.exp()?.update_value(|_| ()).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn update_value<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let mut slot = self.leaf_value_mut("update_value")?;
        Ok(f(slot.as_mut_slice()))
    }

    /// The value of a leaf, locked for writing; `op` names the caller in the error for a
    /// non-leaf.
    fn leaf_value_mut(&self, op: &'static str) -> Result<RwLockWriteGuard<'_, Tensor<T>>> {
        if !self.is_leaf() {
            return Err(TensorError::invalid(
                op,
                format!(
                    "only leaves can be assigned, found the result of '{}'",
                    self.node.op
                ),
            ));
        }
        Ok(self
            .node
            .value
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// True for parameters and for results of ops on them (while gradients are enabled).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// assert!(w.relu()?.requires_grad());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn requires_grad(&self) -> bool {
        self.node.requires_grad
    }

    /// True when the `Var` was not produced by a recorded op.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// assert!(w.is_leaf());
    /// assert!(!w.exp()?.is_leaf());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn is_leaf(&self) -> bool {
        !self.node.requires_grad || self.node.kind == NodeKind::Leaf
    }

    /// The name of the op that produced this `Var` (`"leaf"` / `"parameter"` for leaves).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// assert_eq!(w.tanh()?.op(), "tanh");
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn op(&self) -> &'static str {
        self.node.op
    }

    /// A number unique to this node, increasing in creation order.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::new(Tensor::<f32>::ones(&[1]));
    /// let b = Var::new(Tensor::<f32>::ones(&[1]));
    /// assert!(b.id() > a.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.node.id
    }

    /// The accumulated gradient of a leaf, if any backward pass has reached it.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// assert!(w.grad().is_none());
    /// w.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn grad(&self) -> Option<Tensor<T>> {
        lock(&self.node.grad).clone()
    }

    /// Clears the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// w.sum_all()?.backward()?;
    /// w.zero_grad();
    /// assert!(w.grad().is_none());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn zero_grad(&self) {
        *lock(&self.node.grad) = None;
    }

    /// Replaces the accumulated gradient (used by optimizers' state restore and clipping).
    ///
    /// # Errors
    /// When the gradient's shape differs from the value's.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// w.set_grad(Some(Tensor::full(&[2], 0.5)))?;
    /// assert_eq!(w.grad().unwrap().to_vec(), vec![0.5, 0.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor<T>>) -> Result<()> {
        if let Some(g) = &grad
            && g.shape() != self.shape().as_slice()
        {
            return Err(TensorError::shape(
                "set_grad",
                format!(
                    "expected a gradient of shape {:?}, found {:?}",
                    self.shape(),
                    g.shape()
                ),
            ));
        }
        *lock(&self.node.grad) = grad;
        Ok(())
    }

    /// A new constant leaf sharing this value, cut from the graph (like `tensor.detach()`).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f32>::ones(&[2]));
    /// let d = w.exp()?.detach();
    /// assert!(!d.requires_grad() && d.is_leaf());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn detach(&self) -> Var<T> {
        Var::new(self.value())
    }

    /// The inputs of the op that produced this `Var` (empty for leaves, and after backward
    /// has freed the graph).
    pub(crate) fn inputs(&self) -> Vec<Var<T>> {
        lock(&self.node.grad_fn)
            .as_ref()
            .map(|g| g.inputs.clone())
            .unwrap_or_default()
    }

    /// The shapes of the inputs of the op that produced this `Var`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f32>::ones(&[2, 3]));
    /// assert_eq!(a.sum(&[0], false)?.input_shapes(), &[vec![2, 3]]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.node.input_shapes
    }
}

/// Locks a mutex, ignoring poisoning (a panic elsewhere leaves the data consistent here:
/// every critical section is a single assignment).
pub(crate) fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<X>(m: &RwLock<X>) -> std::sync::RwLockReadGuard<'_, X> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}
