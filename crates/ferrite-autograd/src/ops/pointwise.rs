//! `pow`, `clamp`, `maximum`, `minimum` and `where_cond` on `Var`, each with its backward.

use ferrite_tensor::{Float, Mask, Result, Tensor};

use crate::Var;
use crate::VarGrads;
use crate::ops::double::{curved, piecewise_linear};

impl<T: Float> Var<T> {
    /// `x^exponent` for a scalar exponent, like `torch.pow(x, exponent)` (integral
    /// exponents accept negative bases). Backward: `g·p·x^(p−1)`, and 0 everywhere for
    /// `p = 0` (also at `x = 0`), as PyTorch.
    ///
    /// # Errors
    /// Only in anomaly mode, when the result is not finite.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, 3.0], &[2])?);
    /// let y = x.pow(3.0)?;
    /// assert_eq!(y.value().to_vec(), vec![-8.0, 27.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![12.0, 27.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn pow(&self, exponent: T) -> Result<Var<T>> {
        let x = self.value();
        Var::from_op("pow", x.pow(exponent), &[self], move |g, grads| {
            grads.set(0, || {
                if exponent == T::zero() {
                    return Ok(Tensor::zeros(g.shape()));
                }
                let p1 = exponent - T::one();
                g.zip_with("pow_backward", &x, move |g, x| g * exponent * x.powf(p1))
            })
        })
        .map(|y| {
            y.with_double_backward(curved(
                "pow_backward",
                move |x: T| pow_d(x, exponent),
                move |x: T| pow_d2(x, exponent),
            ))
        })
    }

    /// `x` clamped to `[min, max]`, either bound optional, like `torch.clamp`. With
    /// `min > max` every element becomes `max` (no error, as PyTorch). Backward: `g`
    /// strictly inside the given bounds, 0 at and beyond them.
    ///
    /// # Errors
    /// `InvalidArgument` when both bounds are `None`; in anomaly mode, a non-finite result.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, 0.5, 1.0], &[3])?);
    /// let y = x.clamp(Some(0.0), None)?;
    /// assert_eq!(y.value().to_vec(), vec![0.0, 0.5, 1.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 1.0, 1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn clamp(&self, min: Option<T>, max: Option<T>) -> Result<Var<T>> {
        let x = self.value();
        let y = x.clamp(min, max)?;
        Var::from_op("clamp", y, &[self], move |g, grads| {
            grads.set(0, || {
                g.zip_with("clamp_backward", &x, move |g, x| {
                    let inside = min.is_none_or(|lo| x > lo) && max.is_none_or(|hi| x < hi);
                    if inside { g } else { T::zero() }
                })
            })
        })
        .map(|y| {
            y.with_double_backward(piecewise_linear("clamp_backward", move |x: T| {
                if min.is_none_or(|lo| x > lo) && max.is_none_or(|hi| x < hi) {
                    T::one()
                } else {
                    T::zero()
                }
            }))
        })
    }

    /// The larger of `self` and `other` elementwise, with broadcasting, like
    /// `torch.maximum`. Backward: `g` to the larger, split in halves on ties (summed over
    /// broadcast dims), as PyTorch.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
    /// let b = Var::parameter(Tensor::<f64>::scalar(2.0));
    /// a.maximum(&b)?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![0.0, 0.5, 1.0]);
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![1.5]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn maximum(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let y = a.maximum(&b)?;
        Var::from_op("maximum", y, &[self, other], move |g, grads| {
            split_grad("maximum_backward", g, &a, &b, |x, y| x > y, grads)
        })
        .map(|y| {
            y.with_double_backward(|g, x, grads| {
                split_grad_var("maximum_backward", g, x, |x, y| x > y, grads)
            })
        })
    }

    /// The smaller of `self` and `other` elementwise, with broadcasting, like
    /// `torch.minimum`. Backward: `g` to the smaller, split in halves on ties.
    ///
    /// # Errors
    /// When the shapes cannot be broadcast.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
    /// let b = Var::parameter(Tensor::<f64>::scalar(2.0));
    /// a.minimum(&b)?.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![1.0, 0.5, 0.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn minimum(&self, other: &Var<T>) -> Result<Var<T>> {
        let (a, b) = (self.value(), other.value());
        let y = a.minimum(&b)?;
        Var::from_op("minimum", y, &[self, other], move |g, grads| {
            split_grad("minimum_backward", g, &a, &b, |x, y| x < y, grads)
        })
        .map(|y| {
            y.with_double_backward(|g, x, grads| {
                split_grad_var("minimum_backward", g, x, |x, y| x < y, grads)
            })
        })
    }

    /// `a` where `condition` is true, else `b`, all three broadcast together, like
    /// `torch.where(condition, a, b)`. Backward: `g` goes to `a` where the condition
    /// holds and to `b` elsewhere, summed over broadcast dims; the mask gets none.
    ///
    /// # Errors
    /// `Shape` when the three shapes cannot be broadcast together.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_tensor::{Mask, Tensor};
    /// let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -2.0, 3.0], &[3])?);
    /// let b = Var::parameter(Tensor::<f64>::scalar(0.0));
    /// let cond = a.value().gt_scalar(0.0);
    /// let y = Var::where_cond(&cond, &a, &b)?;
    /// assert_eq!(y.value().to_vec(), vec![1.0, 0.0, 3.0]);
    /// y.sum_all()?.backward()?;
    /// assert_eq!(a.grad().unwrap().to_vec(), vec![1.0, 0.0, 1.0]);
    /// assert_eq!(b.grad().unwrap().to_vec(), vec![1.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    #[doc(alias = "where")]
    pub fn where_cond(condition: &Mask, a: &Var<T>, b: &Var<T>) -> Result<Var<T>> {
        let y = Tensor::where_cond(condition, &a.value(), &b.value())?;
        let (sa, sb, cond) = (a.shape(), b.shape(), condition.clone());
        Var::from_op("where", y, &[a, b], move |g, grads| {
            let zero = Tensor::scalar(T::zero());
            grads.set(0, || Tensor::where_cond(&cond, g, &zero)?.sum_to(&sa))?;
            grads.set(1, || Tensor::where_cond(&cond, &zero, g)?.sum_to(&sb))
        })
        .map(|y| {
            let condition = condition.clone();
            y.with_double_backward(move |g, x, grads| {
                let zero = Var::new(Tensor::scalar(T::zero()));
                grads.set(0, || {
                    Var::where_cond(&condition, g, &zero)?.sum_to(&x[0].shape())
                })?;
                grads.set(1, || {
                    Var::where_cond(&condition, &zero, g)?.sum_to(&x[1].shape())
                })
            })
        })
    }
}

/// The share of the gradient that `x` gets against `y`: all if it `wins`, half on a tie,
/// none if it loses; all when either is NaN (PyTorch's kernel sends it to both then).
fn tie_share<T: Float>(wins: bool, x: T, y: T) -> T {
    if wins || x.is_nan() || y.is_nan() {
        T::one()
    } else if x == y {
        T::of(0.5)
    } else {
        T::zero()
    }
}

/// Sends each input its share of `g` (see [`tie_share`]; `wins(x, y)` says whether `x`
/// is selected over `y`), summed down to the input's own shape.
fn split_grad<T: Float>(
    op: &'static str,
    g: &Tensor<T>,
    a: &Tensor<T>,
    b: &Tensor<T>,
    wins: fn(T, T) -> bool,
    grads: &mut crate::Grads<T>,
) -> Result<()> {
    grads.set(0, || {
        let share = a.zip_with(op, b, |x, y| tie_share(wins(x, y), x, y))?;
        g.mul(&share)?.sum_to(a.shape())
    })?;
    grads.set(1, || {
        let share = b.zip_with(op, a, |y, x| tie_share(wins(y, x), y, x))?;
        g.mul(&share)?.sum_to(b.shape())
    })
}

/// `split_grad` with the gradient on a graph: the shares are constants (zero second
/// derivative), so only `g` carries on.
fn split_grad_var<T: Float>(
    op: &'static str,
    g: &Var<T>,
    x: &[Var<T>],
    wins: fn(T, T) -> bool,
    grads: &mut VarGrads<T>,
) -> Result<()> {
    let (a, b) = (x[0].value(), x[1].value());
    grads.set(0, || {
        let share = a.zip_with(op, &b, |x, y| tie_share(wins(x, y), x, y))?;
        g.mul(&Var::new(share))?.sum_to(a.shape())
    })?;
    grads.set(1, || {
        let share = b.zip_with(op, &a, |y, x| tie_share(wins(y, x), y, x))?;
        g.mul(&Var::new(share))?.sum_to(b.shape())
    })
}

/// `d/dx xᵖ`, 0 everywhere for p = 0 (also at x = 0), as PyTorch.
fn pow_d<T: Float>(x: T, p: T) -> T {
    if p == T::zero() {
        T::zero()
    } else {
        p * x.powf(p - T::one())
    }
}

/// `d²/dx² xᵖ`, 0 everywhere for p = 0 and p = 1.
fn pow_d2<T: Float>(x: T, p: T) -> T {
    if p == T::zero() || p == T::one() {
        T::zero()
    } else {
        p * (p - T::one()) * x.powf(p - T::of(2.0))
    }
}
