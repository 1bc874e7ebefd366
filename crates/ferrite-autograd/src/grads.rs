//! [`Grads`] and [`VarGrads`]: the gradients an op's backward hands back, one slot per
//! input, as tensors (first-order backward) or as `Var`s (a double backward, which records
//! its own graph so the gradient can be differentiated again).

use ferrite_tensor::{Float, Result, Tensor};

use crate::Var;

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
    slots: Slots<Tensor<T>>,
}

/// One slot per input: whether it wants a gradient, and the gradient once set.
struct Slots<G>(Vec<(bool, Option<G>)>);

impl<G> Slots<G> {
    fn new(needs: impl IntoIterator<Item = bool>) -> Self {
        Slots(needs.into_iter().map(|needed| (needed, None)).collect())
    }

    fn needs(&self, i: usize) -> bool {
        self.0.get(i).is_some_and(|s| s.0)
    }

    fn set(&mut self, i: usize, f: impl FnOnce() -> Result<G>) -> Result<()> {
        if let Some(slot) = self.0.get_mut(i).filter(|s| s.0) {
            slot.1 = Some(f()?);
        }
        Ok(())
    }

    fn put(&mut self, i: usize, grad: Option<G>) {
        if let Some(slot) = self.0.get_mut(i).filter(|s| s.0) {
            slot.1 = grad;
        }
    }

    fn into_vec(self) -> Vec<Option<G>> {
        self.0.into_iter().map(|s| s.1).collect()
    }
}

impl<T: Float> Grads<T> {
    /// Empty slots for inputs of which `needs[i]` tell which want a gradient.
    pub(crate) fn new(needs: impl IntoIterator<Item = bool>) -> Self {
        Grads {
            slots: Slots::new(needs),
        }
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
        self.slots.needs(i)
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
        self.slots.set(i, f)
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
        self.slots.put(i, grad)
    }

    /// The computed gradients, one per input (`None` where not needed or not set).
    pub(crate) fn into_vec(self) -> Vec<Option<Tensor<T>>> {
        self.slots.into_vec()
    }
}

/// The gradients of one op's inputs as [`Var`]s, filled by the op's double backward (see
/// [`Var::with_double_backward`]): the same slots as [`Grads`], but each gradient is computed
/// with `Var` ops, so it is itself on a graph and can be differentiated again.
///
/// ```
/// use ferrite_autograd::{grad, GradOptions, Var};
/// use ferrite_tensor::Tensor;
/// // cube(x) = x³ with a double backward: d/dx = 3x² written in Var ops.
/// fn cube(x: &Var<f64>) -> ferrite_tensor::Result<Var<f64>> {
///     let xv = x.value();
///     let y = Var::from_op("cube", xv.powf(3.0), &[x], move |g, grads| {
///         grads.set(0, || g.mul(&xv.powf(2.0).mul_scalar(3.0)))
///     })?;
///     Ok(y.with_double_backward(|g, inputs, grads| {
///         grads.set(0, || g.mul(&inputs[0].pow(2.0)?.mul_scalar(3.0)?))
///     }))
/// }
/// let x = Var::parameter(Tensor::from_vec(vec![2.0], &[1])?);
/// let y = cube(&x)?.sum_all()?;
/// let options = GradOptions::default().with_create_graph(true);
/// let dy = grad(&[y], &[x.clone()], None, &options)?.remove(0).unwrap(); // 3x² = 12
/// let d2y = grad(&[dy.sum_all()?], &[x], None, &GradOptions::default())?.remove(0).unwrap();
/// assert_eq!(d2y.value().to_vec(), vec![12.0]); // 6x
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct VarGrads<T: Float> {
    slots: Slots<Var<T>>,
}

impl<T: Float> VarGrads<T> {
    pub(crate) fn new(needs: impl IntoIterator<Item = bool>) -> Self {
        VarGrads {
            slots: Slots::new(needs),
        }
    }

    /// Whether input `i` needs a gradient (false for an index past the inputs).
    ///
    /// ```
    /// use ferrite_autograd::VarGrads;
    /// fn first_only(grads: &VarGrads<f64>) -> bool {
    ///     grads.needs(0) && !grads.needs(7)
    /// }
    /// ```
    pub fn needs(&self, i: usize) -> bool {
        self.slots.needs(i)
    }

    /// Computes input `i`'s gradient with `f` if it needs one; otherwise `f` is not called.
    ///
    /// # Errors
    /// What `f` returns.
    ///
    /// ```
    /// use ferrite_autograd::{Var, VarGrads};
    /// fn double(g: &Var<f64>, grads: &mut VarGrads<f64>) -> ferrite_tensor::Result<()> {
    ///     grads.set(0, || g.mul_scalar(2.0))
    /// }
    /// ```
    pub fn set(&mut self, i: usize, f: impl FnOnce() -> Result<Var<T>>) -> Result<()> {
        self.slots.set(i, f)
    }

    /// Stores a gradient computed together with others: it goes to slot `i` if input `i`
    /// needs one, and is dropped otherwise.
    ///
    /// ```
    /// use ferrite_autograd::{Var, VarGrads};
    /// fn pass(g: &Var<f64>, grads: &mut VarGrads<f64>) {
    ///     grads.put(0, Some(g.clone()));
    /// }
    /// ```
    pub fn put(&mut self, i: usize, grad: Option<Var<T>>) {
        self.slots.put(i, grad)
    }

    pub(crate) fn into_vec(self) -> Vec<Option<Var<T>>> {
        self.slots.into_vec()
    }
}
