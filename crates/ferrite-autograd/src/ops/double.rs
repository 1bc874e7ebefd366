//! Double backwards shared by many ops: pointwise ops' gradient `g·f'(x)` recorded as an op
//! of `g` and `x`; linear ops' transpose pair ([`linear_op`]); and fused ops differentiated
//! through a recomputation in `Var` ops ([`recomputed`]).

use std::sync::Arc;

use ferrite_tensor::{Float, Result, Tensor};

use crate::backward::grad_within;
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

/// A map linear in its input, as a tensor function (its transpose is the op's backward).
pub(crate) type LinearFn<T> = Arc<dyn Fn(&Tensor<T>) -> Result<Tensor<T>> + Send + Sync>;

/// Records `value = f(x)` (plus a constant, for affine ops such as a constant pad) for an op
/// linear in `x`: its backward is the transpose `ft`, and the gradient of that is `f` again,
/// so the op is differentiable to any order by swapping the two. `names` are the op's name
/// and its backward's (the op recorded when the gradient itself is differentiated).
pub(crate) fn linear_op<T: Float>(
    names: [&'static str; 2],
    x: &Var<T>,
    value: Tensor<T>,
    f: LinearFn<T>,
    ft: LinearFn<T>,
) -> Result<Var<T>> {
    let first = Arc::clone(&ft);
    let y = Var::from_op(names[0], value, &[x], move |g, grads| {
        grads.set(0, || first(g))
    })?;
    Ok(y.with_double_backward(move |g, _, grads| {
        grads.set(0, || {
            let value = ft(&g.value())?;
            linear_op(
                [names[1], names[0]],
                g,
                value,
                Arc::clone(&ft),
                Arc::clone(&f),
            )
        })
    }))
}

/// Wraps a tensor function as a [`LinearFn`].
pub(crate) fn linear_fn<T: Float>(
    f: impl Fn(&Tensor<T>) -> Result<Tensor<T>> + Send + Sync + 'static,
) -> LinearFn<T> {
    Arc::new(f)
}

/// The double backward of an op whose fused kernels have no differentiable form: `f`
/// recomputes the op from its inputs in differentiable `Var` ops (slow, but only run when a
/// gradient is itself differentiated), and the gradients of that recomputation for the
/// output gradient `g` are the op's gradients, on a graph.
///
/// Each input is seen through a fresh identity node, and the inner pass stops there: it
/// does not walk the (possibly long) graph before the op, and an input passed twice gets
/// the gradient of each use in its own slot.
pub(crate) fn recomputed<T: Float>(
    f: impl Fn(&[Var<T>]) -> Result<Var<T>> + Send + Sync + 'static,
) -> impl Fn(&Var<T>, &[Var<T>], &mut VarGrads<T>) -> Result<()> + Send + Sync + 'static {
    move |g, inputs, grads| {
        let proxies = inputs.iter().map(identity).collect::<Result<Vec<_>>>()?;
        let y = f(&proxies)?;
        let wanted: Vec<usize> = (0..inputs.len()).filter(|&i| grads.needs(i)).collect();
        let targets: Vec<Var<T>> = wanted.iter().map(|&i| proxies[i].clone()).collect();
        let stops: Vec<Var<T>> = (proxies.iter())
            .filter(|p| p.requires_grad())
            .cloned()
            .collect();
        let got = grad_within(&y, g, &targets, &stops)?;
        for (i, grad) in wanted.into_iter().zip(got) {
            grads.put(i, grad);
        }
        Ok(())
    }
}

/// `x` again, as a new node (a boundary for [`recomputed`]).
fn identity<T: Float>(x: &Var<T>) -> Result<Var<T>> {
    let y = Var::from_op("identity", x.value(), &[x], |g, grads| {
        grads.set(0, || Ok(g.clone()))
    })?;
    Ok(y.with_double_backward(|g, _, grads| grads.set(0, || Ok(g.clone()))))
}
