//! Gradient hooks on [`Var`]s: [`Var::register_hook`] and [`Var::retain_grad`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ferrite_tensor::{Float, Result};

use crate::Var;
use crate::var::{Node, lock};

/// A gradient hook: sees the full gradient of a `Var` and may replace it.
pub(crate) type Hook<T> = Arc<dyn Fn(&Var<T>) -> Result<Option<Var<T>>> + Send + Sync>;

static NEXT_HOOK: AtomicU64 = AtomicU64::new(0);

/// Removes the hook it was returned for ([`Var::register_hook`]); dropping the handle keeps
/// the hook, as in PyTorch.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::ones(&[2]));
/// let handle = x.register_hook(|g| Ok(Some(g.mul_scalar(10.0)?)));
/// handle.remove();
/// x.sum_all()?.backward()?;
/// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 1.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct HookHandle<T: Float> {
    node: Weak<Node<T>>,
    id: u64,
}

impl<T: Float> HookHandle<T> {
    /// Unregisters the hook (nothing happens if the `Var` is gone or it was removed before).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f32>::ones(&[1]));
    /// x.register_hook(|_| Ok(None)).remove();
    /// ```
    pub fn remove(self) {
        if let Some(node) = self.node.upgrade() {
            lock(&node.hooks).retain(|(id, _)| *id != self.id);
        }
    }
}

impl<T: Float> Var<T> {
    /// Registers `hook` to run when this value's gradient has been fully computed by a
    /// backward pass (`tensor.register_hook` in PyTorch). The hook sees the gradient and may
    /// return a replacement (`Ok(Some(new))`, same shape), which is what flows on to the
    /// value's inputs and, for a leaf, into `.grad`; `Ok(None)` keeps it. Hooks run in
    /// registration order, each seeing the previous one's result. During a `create_graph`
    /// pass the gradient is on a graph and a replacement built from it stays differentiable.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
    /// let h = x.mul_scalar(3.0)?;
    /// h.register_hook(|g| {
    ///     assert_eq!(g.value().to_vec(), vec![1.0, 1.0]); // inspect
    ///     Ok(Some(g.mul_scalar(0.5)?)) // and halve
    /// });
    /// h.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.5, 1.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn register_hook(
        &self,
        hook: impl Fn(&Var<T>) -> Result<Option<Var<T>>> + Send + Sync + 'static,
    ) -> HookHandle<T> {
        let id = NEXT_HOOK.fetch_add(1, Ordering::Relaxed);
        lock(&self.node.hooks).push((id, Arc::new(hook)));
        HookHandle {
            node: Arc::downgrade(&self.node),
            id,
        }
    }

    /// Makes a non-leaf value keep its gradient in [`grad`](Var::grad) after `backward`, as
    /// PyTorch's `retain_grad()` (leaves always do). The stored gradient is the one after
    /// this value's hooks.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
    /// let h = x.mul_scalar(3.0)?;
    /// h.retain_grad();
    /// h.mul(&h)?.sum_all()?.backward()?;
    /// assert_eq!(h.grad().unwrap().to_vec(), vec![6.0, 12.0]); // 2h
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn retain_grad(&self) {
        self.node.retains_grad.store(true, Ordering::Relaxed);
    }

    /// Runs this value's hooks on `grad`, in order.
    pub(crate) fn run_hooks(&self, grad: Var<T>) -> Result<Var<T>> {
        let hooks: Vec<Hook<T>> = lock(&self.node.hooks)
            .iter()
            .map(|(_, h)| Arc::clone(h))
            .collect();
        let mut grad = grad;
        for hook in hooks {
            if let Some(new) = hook(&grad)? {
                if new.shape() != grad.shape() {
                    return Err(ferrite_tensor::TensorError::shape(
                        "register_hook",
                        format!(
                            "a hook on the result of '{}' returned a gradient of shape {:?}, expected {:?}",
                            self.node.op,
                            new.shape(),
                            grad.shape()
                        ),
                    ));
                }
                grad = new;
            }
        }
        Ok(grad)
    }

    /// Whether this value has hooks to run.
    pub(crate) fn has_hooks(&self) -> bool {
        !lock(&self.node.hooks).is_empty()
    }

    /// Whether this value stores its gradient in `.grad` (leaves, and `retain_grad`).
    pub(crate) fn keeps_grad(&self) -> bool {
        self.node.kind == crate::var::NodeKind::Leaf
            || self.node.retains_grad.load(Ordering::Relaxed)
    }
}
