//! [`gradcheck_module`]: checks a whole model's gradients, with respect to its input and
//! every parameter, against finite differences, and names the layer and op at fault.

use ferrite_autograd::{GradcheckError, GradcheckOptions, GradcheckReport, Var, no_grad};
use ferrite_tensor::{Tensor, TensorError, seeded_rng};

use crate::{Module, ModuleExt};

/// Checks `model`'s backward in `f64` for one `input`: for the input and for each parameter
/// tensor, the projection `vᵀ·J·u` on fixed random directions `u` (that tensor's shape) and
/// `v` (the output's) from one backward, against the central difference of `vᵀ·model(x)`
/// along `u` — one backward and two forwards per tensor, so a whole CNN takes well under a
/// second. The model runs in its current mode (use `eval()` for dropout); parameters,
/// buffers and `.grad` are left as they were.
///
/// When a check fails inside a [`Sequential`](crate::Sequential), its layers are checked one
/// by one on the activations they see, so the error names the innermost layer at fault, its
/// path, the op that produced its output, and the tensor (its input or a parameter).
///
/// # Errors
/// [`GradcheckError::Mismatch`] with `input` naming the module path and tensor, and the
/// projection's two values (`input_index` empty); [`GradcheckError::Op`] when the forward
/// fails or the model has no parameter and the output needs no gradient.
///
/// ```
/// use ferrite_nn::{gradcheck_module, models, ModuleExt};
/// use ferrite_autograd::GradcheckOptions;
/// use ferrite_tensor::{manual_seed, seeded_rng, Tensor};
/// manual_seed(0);
/// let model = models::small_cnn::<f64>([12, 12])?;
/// let x = Tensor::<f64>::randn(&[2, 1, 12, 12], &mut seeded_rng(1));
/// let report = gradcheck_module(&model, &x, &GradcheckOptions::default())?;
/// assert_eq!(report.checked, 1 + model.parameters().len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn gradcheck_module(
    model: &dyn Module<f64>,
    input: &Tensor<f64>,
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    check_at("", model, input, options)
}

/// The projection check of `model` at module path `path` ("" for the root), localized into
/// a `Sequential`'s layers on failure.
fn check_at(
    path: &str,
    model: &dyn Module<f64>,
    input: &Tensor<f64>,
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    let failure = match project(path, model, input, options) {
        Ok(report) => return Ok(report),
        Err(e @ GradcheckError::Op(_)) => return Err(e),
        Err(e) => e,
    };
    if model.type_name() == "Sequential" {
        let mut activation = input.clone();
        for (name, child) in model.children() {
            let child_path = join(path, &name);
            check_at(&child_path, child, &activation, options)?;
            activation = no_grad(|| child.forward(&Var::new(activation)))?.value();
        }
    }
    Err(failure)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// One projection per tensor (the input, then each parameter) for `model` alone.
fn project(
    path: &str,
    model: &dyn Module<f64>,
    input: &Tensor<f64>,
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    let params = model.named_parameters();
    let saved_grads: Vec<Option<Tensor<f64>>> = params.iter().map(|(_, p)| p.grad()).collect();
    let saved_buffers: Vec<Tensor<f64>> = model
        .named_buffers()
        .iter()
        .map(|(_, b)| b.value())
        .collect();
    let result = project_all(path, model, input, &params, options);
    for ((_, p), g) in params.iter().zip(saved_grads) {
        p.set_grad(g)?;
    }
    for ((_, b), value) in model.named_buffers().iter().zip(saved_buffers) {
        b.set_value(value)?;
    }
    result
}

fn project_all(
    path: &str,
    model: &dyn Module<f64>,
    input: &Tensor<f64>,
    params: &[(String, Var<f64>)],
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    let x = Var::parameter(input.clone());
    for (_, p) in params {
        p.zero_grad();
    }
    let out = model.forward(&x)?;
    let op = out.op();
    if !out.requires_grad() {
        return Err(TensorError::invalid(
            "gradcheck_module",
            format!(
                "the output of '{}' does not depend on its input or any parameter",
                model.type_name()
            ),
        )
        .into());
    }
    let v = Tensor::<f64>::randn(&out.shape(), &mut seeded_rng(0x5eed));
    out.backward_with(&v)?;
    let mut tensors: Vec<(String, Var<f64>, Option<Tensor<f64>>)> =
        vec![("input".to_string(), x.clone(), x.grad())];
    tensors.extend(params.iter().map(|(n, p)| (n.clone(), p.clone(), p.grad())));
    let mut max_abs_error = 0.0f64;
    for (k, (name, var, grad)) in tensors.iter().enumerate() {
        let u = Tensor::<f64>::randn(&var.shape(), &mut seeded_rng(0x5eed + 1 + k as u64));
        let grad = grad.clone().unwrap_or_else(|| Tensor::zeros(&var.shape()));
        let analytical = dot(&grad, &u);
        let numerical = directional_difference(model, input, var, k == 0, &u, &v, options.eps)?;
        let err = (analytical - numerical).abs();
        max_abs_error = max_abs_error.max(err);
        if err > options.atol + options.rtol * numerical.abs() || err.is_nan() {
            let what = if path.is_empty() {
                name.clone()
            } else {
                format!("{name} of {path}")
            };
            return Err(GradcheckError::Mismatch {
                op,
                input: format!("{what} ({})", model.type_name()),
                input_index: Vec::new(),
                output_index: 0,
                analytical,
                numerical,
                order: 1,
                projection: true,
            });
        }
    }
    Ok(GradcheckReport {
        op,
        checked: tensors.len(),
        max_abs_error,
    })
}

/// `(vᵀ·model(x; t + eps·u) − vᵀ·model(x; t − eps·u)) / 2eps` for one tensor `t`: the input
/// (`is_input`) or a parameter, moved in place and restored.
fn directional_difference(
    model: &dyn Module<f64>,
    input: &Tensor<f64>,
    var: &Var<f64>,
    is_input: bool,
    u: &Tensor<f64>,
    v: &Tensor<f64>,
    eps: f64,
) -> Result<f64, GradcheckError> {
    let original = var.value();
    let buffers: Vec<Tensor<f64>> = model
        .named_buffers()
        .iter()
        .map(|(_, b)| b.value())
        .collect();
    let at = |delta: f64| -> Result<f64, TensorError> {
        let moved = original.add(&u.mul_scalar(delta))?;
        let x = if is_input {
            moved
        } else {
            var.set_value(moved)?;
            input.clone()
        };
        let y = no_grad(|| model.forward(&Var::new(x)))?.value();
        for ((_, b), value) in model.named_buffers().iter().zip(&buffers) {
            b.set_value(value.clone())?;
        }
        Ok(dot(&y, v))
    };
    let (plus, minus) = (at(eps), at(-eps));
    if !is_input {
        var.set_value(original)?;
    }
    Ok((plus? - minus?) / (2.0 * eps))
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x * y).sum()
}
