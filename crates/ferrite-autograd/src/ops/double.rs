//! The double backward shared by pointwise ops: their gradient `g·f'(x)` recorded as an op
//! of `g` and `x`, so it can be differentiated once more.

use ferrite_tensor::{Float, Result, Tensor};

use crate::{Var, VarGrads};

/// `g·f'(x)` for a pointwise `f`, given `d = f'(x)` and `d2 = f''(x)` computed from `x`'s
/// value: an op whose gradients are `∂/∂g = f'(x)` and `∂/∂x = g·f''(x)`. Ops whose second
/// derivative is zero almost everywhere (relu, clamp, abs, ...) pass `d2 = None`.
pub(crate) fn times_derivative<T: Float>(
    op: &'static str,
    g: &Var<T>,
    x: &Var<T>,
    d: Tensor<T>,
    d2: Option<Tensor<T>>,
) -> Result<Var<T>> {
    let gv = g.value();
    let value = gv.mul(&d)?;
    Var::from_op(op, value, &[g, x], move |gg, grads| {
        grads.set(0, || gg.mul(&d))?;
        match &d2 {
            Some(d2) => grads.set(1, || gg.mul(&gv)?.mul(d2)),
            None => grads.set(1, || Ok(Tensor::zeros(gv.shape()))),
        }
    })
}

/// The double backward of a pointwise op from its first and second derivatives as
/// functions of one element: fills slot 0 with `g·f'(x)`, itself differentiable.
pub(crate) fn curved<T: Float>(
    op: &'static str,
    d: impl Fn(T) -> T + Send + Sync + Copy + 'static,
    d2: impl Fn(T) -> T + Send + Sync + Copy + 'static,
) -> impl Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync + 'static {
    move |g, inputs, grads| {
        let x = &inputs[0];
        let xv = x.value();
        grads.set(0, || {
            times_derivative(op, g, x, xv.map(d), Some(xv.map(d2)))
        })
    }
}

/// The double backward of a piecewise-linear op (second derivative zero almost
/// everywhere): fills slot 0 with `g·f'(x)`.
pub(crate) fn piecewise_linear<T: Float>(
    op: &'static str,
    d: impl Fn(T) -> T + Send + Sync + Copy + 'static,
) -> impl Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync + 'static {
    move |g, inputs, grads| {
        let x = &inputs[0];
        grads.set(0, || times_derivative(op, g, x, x.value().map(d), None))
    }
}
