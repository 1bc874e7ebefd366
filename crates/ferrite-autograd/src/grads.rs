//! [`Grads`]: the gradients an op's backward hands back, one slot per input.

use ferrite_tensor::{Float, Result, Tensor};

/// The gradients of one op's inputs, filled by the op's backward closure (see
/// [`Var::from_op`](crate::Var::from_op)).
///
/// Slot `i` belongs to the op's input `i`. [`set`](Grads::set) computes a gradient only for
/// an input that needs one, so a backward is a list of `set` calls, one per input, with no
/// bookkeeping of its own. An index past the inputs never needs a gradient: an op whose last
/// input is optional (conv2d's bias) passes it only when present and calls `set` for it
/// unconditionally.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_tensor::Tensor;
/// // y = a * b with an optional third input c: y = a * b + c.
/// fn mul_add(a: &Var<f64>, b: &Var<f64>, c: Option<&Var<f64>>) -> ferrite_tensor::Result<Var<f64>> {
///     let (av, bv) = (a.value(), b.value());
///     let mut value = av.mul(&bv)?;
///     if let Some(c) = c {
///         value = value.add(&c.value())?;
///     }
///     let mut inputs = vec![a, b];
///     inputs.extend(c);
///     Var::from_op("mul_add", value, &inputs, move |g, grads| {
///         grads.set(0, || g.mul(&bv))?;
///         grads.set(1, || g.mul(&av))?;
///         grads.set(2, || Ok(g.clone()))
///     })
/// }
/// let a = Var::parameter(Tensor::from_vec(vec![2.0], &[1])?);
/// let b = Var::new(Tensor::from_vec(vec![3.0], &[1])?);
/// mul_add(&a, &b, None)?.sum_all()?.backward()?;
/// assert_eq!(a.grad().unwrap().to_vec(), vec![3.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Grads<T: Float> {
    slots: Vec<Slot<T>>,
}

struct Slot<T: Float> {
    needed: bool,
    grad: Option<Tensor<T>>,
}

impl<T: Float> Grads<T> {
    /// Empty slots for inputs of which `needs[i]` tell which want a gradient.
    pub(crate) fn new(needs: impl IntoIterator<Item = bool>) -> Self {
        let slots = needs
            .into_iter()
            .map(|needed| Slot { needed, grad: None })
            .collect();
        Grads { slots }
    }

    /// Whether input `i` needs a gradient (false for an index past the inputs).
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let w = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// let x = Var::new(Tensor::<f64>::ones(&[2]));
    /// let y = Var::from_op("probe", w.value(), &[&w, &x], |g, grads| {
    ///     assert!(grads.needs(0) && !grads.needs(1) && !grads.needs(2));
    ///     grads.set(0, || Ok(g.clone()))
    /// })?;
    /// y.sum_all()?.backward()?;
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn needs(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.needed)
    }

    /// Computes input `i`'s gradient with `f` if it needs one; otherwise `f` is not called.
    ///
    /// # Errors
    /// What `f` returns.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::full(&[2], 3.0));
    /// let y = Var::from_op("double", x.value().mul_scalar(2.0), &[&x], |g, grads| {
    ///     grads.set(0, || Ok(g.mul_scalar(2.0)))
    /// })?;
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![2.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn set(&mut self, i: usize, f: impl FnOnce() -> Result<Tensor<T>>) -> Result<()> {
        if let Some(slot) = self.slots.get_mut(i).filter(|s| s.needed) {
            slot.grad = Some(f()?);
        }
        Ok(())
    }

    /// Stores gradients that a fused kernel computed together (asked for with
    /// [`needs`](Grads::needs)): `grad` goes to slot `i` if input `i` needs one, and is
    /// dropped otherwise.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2]));
    /// let y = Var::from_op("copy", x.value(), &[&x], |g, grads| {
    ///     let fused = [g.clone(), g.clone()]; // e.g. both gradients of a two-input kernel
    ///     let [first, _] = fused;
    ///     grads.put(0, Some(first));
    ///     Ok(())
    /// })?;
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn put(&mut self, i: usize, grad: Option<Tensor<T>>) {
        if let Some(slot) = self.slots.get_mut(i).filter(|s| s.needed) {
            slot.grad = grad;
        }
    }

    /// The computed gradients, one per input (`None` where not needed or not set).
    pub(crate) fn into_vec(self) -> Vec<Option<Tensor<T>>> {
        self.slots.into_iter().map(|s| s.grad).collect()
    }
}
