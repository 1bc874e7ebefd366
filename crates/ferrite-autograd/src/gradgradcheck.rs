//! [`gradgradcheck`]: checks second derivatives, like `torch.autograd.gradgradcheck`.

use ferrite_tensor::{Tensor, TensorError, seeded_rng};

use crate::{GradOptions, GradcheckError, GradcheckOptions, GradcheckReport, Var, grad, gradcheck};

/// Checks the double backward of `f` in `f64`: with a fixed random `grad_output` `v`, the
/// function `(inputs, v) ↦ ∂(Σ f(inputs)·v)/∂inputs`, computed by [`grad`] with
/// `create_graph`, is itself checked by [`gradcheck`] against finite differences, with
/// respect to every input and to `v`. First, the gradients computed that way must equal
/// those of the first-order backward (a double backward that computes another function
/// would otherwise agree with its own derivative). A failure names `f`'s op, the input (or
/// `grad_output`), the element and both values, and says "double backward".
///
/// # Errors
/// As [`gradcheck`]; also when a gradient goes through an op with no double backward.
///
/// ```
/// use ferrite_autograd::{gradgradcheck, GradcheckOptions, Var};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(0));
/// let report = gradgradcheck(|v: &[Var<f64>]| v[0].tanh(), &[x], &GradcheckOptions::default())?;
/// assert_eq!(report.op, "tanh");
/// # Ok::<(), ferrite_autograd::GradcheckError>(())
/// ```
pub fn gradgradcheck(
    f: impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    let params: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let reference = f(&params)?;
    let op = reference.op();
    let grad_output = Tensor::<f64>::randn(&reference.shape(), &mut seeded_rng(0x9e37));
    same_gradients_both_ways(&f, inputs, &grad_output, op, options)?;
    let mut all = inputs.to_vec();
    all.push(grad_output);
    let mut names: Vec<String> = (0..inputs.len())
        .map(|i| {
            options
                .input_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("input {i}"))
        })
        .collect();
    names.push("grad_output".to_string());
    let options = GradcheckOptions {
        input_names: names,
        ..options.clone()
    };
    let n = inputs.len();
    let first_derivatives = |vars: &[Var<f64>]| -> Result<Var<f64>, TensorError> {
        let (xs, v) = vars.split_at(n);
        // The finite-difference evaluations pass constants under no_grad; the gradient
        // needs a graph, so make them parameters and record.
        let _recording = crate::mode::GradModeGuard::enable();
        let xs: Vec<Var<f64>> = (xs.iter())
            .map(|x| match x.requires_grad() {
                true => x.clone(),
                false => Var::parameter(x.value()),
            })
            .collect();
        let xs = xs.as_slice();
        let y = f(xs)?;
        let create = GradOptions::default()
            .with_create_graph(true)
            .with_allow_unused(true);
        let grads = grad(&[y], xs, Some(v), &create)?;
        let mut flat = Vec::with_capacity(n);
        for (g, x) in grads.into_iter().zip(xs) {
            let g = match g {
                Some(g) => g,
                None => Var::new(Tensor::zeros(&x.shape())),
            };
            flat.push(g.reshape(&[-1])?);
        }
        Var::cat(&flat.iter().collect::<Vec<_>>(), 0)
    };
    match gradcheck(first_derivatives, &all, &options) {
        Ok(report) => Ok(GradcheckReport { op, ..report }),
        Err(GradcheckError::Mismatch {
            input,
            input_index,
            output_index,
            analytical,
            numerical,
            projection,
            ..
        }) => Err(GradcheckError::Mismatch {
            op,
            input,
            input_index,
            output_index,
            analytical,
            numerical,
            order: 2,
            projection,
        }),
        Err(e) => Err(e),
    }
}

/// Checks that the gradients of `Σ f(inputs)·v` are the same computed with `create_graph`
/// (by the ops' double backwards) as by the first-order backward.
fn same_gradients_both_ways(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    v: &Tensor<f64>,
    op: &'static str,
    options: &GradcheckOptions,
) -> Result<(), GradcheckError> {
    let both = [false, true].map(|create_graph| {
        let xs: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
        let y = f(&xs)?;
        let o = GradOptions::default()
            .with_create_graph(create_graph)
            .with_allow_unused(true);
        grad(&[y], &xs, Some(&[Var::new(v.clone())]), &o)
    });
    let [first, second] = both;
    let (first, second) = (first?, second?);
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a.value().to_vec(), b.value().to_vec()),
            (None, None) => continue,
            _ => (vec![f64::NAN], vec![0.0]),
        };
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            let err = (x - y).abs();
            if err > options.atol + options.rtol * x.abs() || err.is_nan() {
                let name = options
                    .input_names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("input {i}"));
                return Err(TensorError::invalid(
                    "gradgradcheck",
                    format!(
                        "the double backward of '{op}' computes a different gradient than its backward for {name} at element {k}: {y:e} with create_graph, {x:e} without"
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}
