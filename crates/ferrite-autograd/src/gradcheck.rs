//! [`gradcheck`]: compares the gradients from `backward` with central finite differences,
//! like `torch.autograd.gradcheck`.

use std::fmt;

use ferrite_tensor::{Tensor, TensorError, seeded_rng};

use crate::{Var, no_grad};

/// Tolerances of [`gradcheck`], with PyTorch's defaults (`eps = 1e-6`, `atol = 1e-5`,
/// `rtol = 1e-3`).
///
/// ```
/// use ferrite_autograd::GradcheckOptions;
/// let o = GradcheckOptions::default().with_input_names(&["input", "weight"]);
/// assert_eq!(o.eps, 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckOptions {
    /// Step of the central difference `(f(x + eps) - f(x - eps)) / (2 eps)`.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numerical value).
    pub rtol: f64,
    /// Names of the inputs for messages (`input 1` otherwise).
    pub input_names: Vec<String>,
    /// Compare one random projection `vᵀ·J·u` per input instead of the full Jacobian (one
    /// backward and two forwards per input, like PyTorch's `fast_mode`); a failure is then
    /// located element by element with the full check of that input.
    pub fast_mode: bool,
    /// Also check the gradients for a batch of grad_outputs (PyTorch's
    /// `check_batched_grad`): computed at once on one graph — kept with `retain_graph` and
    /// run backward once per grad_output, then once for their sum — they must equal those
    /// computed one at a time, each from a fresh forward. Catches backwards that are not
    /// linear in the output gradient or that use up what the forward saved.
    pub check_batched_grad: bool,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            input_names: Vec::new(),
            fast_mode: false,
            check_batched_grad: false,
        }
    }
}

impl GradcheckOptions {
    /// Names the inputs in order, for the report.
    pub fn with_input_names(mut self, names: &[&str]) -> Self {
        self.input_names = names.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Sets the finite-difference step.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Checks random projections of the Jacobian instead of every entry (see
    /// [`fast_mode`](GradcheckOptions::fast_mode)).
    ///
    /// ```
    /// use ferrite_autograd::{gradcheck, GradcheckOptions, Var};
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Tensor::<f64>::randn(&[64, 32], &mut seeded_rng(0));
    /// let fast = GradcheckOptions::default().with_fast_mode(true);
    /// let r = gradcheck(|v: &[Var<f64>]| v[0].tanh(), &[x], &fast)?;
    /// assert_eq!(r.checked, 1); // one projection for one input
    /// # Ok::<(), ferrite_autograd::GradcheckError>(())
    /// ```
    pub fn with_fast_mode(mut self, fast_mode: bool) -> Self {
        self.fast_mode = fast_mode;
        self
    }
    /// Sets [`check_batched_grad`](GradcheckOptions::check_batched_grad).
    ///
    /// ```
    /// use ferrite_autograd::{gradcheck, GradcheckOptions, Var};
    /// use ferrite_tensor::{seeded_rng, Tensor};
    /// let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(0));
    /// let batched = GradcheckOptions::default().with_batched_grad(true);
    /// gradcheck(|v: &[Var<f64>]| v[0].tanh(), &[x], &batched)?;
    /// # Ok::<(), ferrite_autograd::GradcheckError>(())
    /// ```
    pub fn with_batched_grad(mut self, check_batched_grad: bool) -> Self {
        self.check_batched_grad = check_batched_grad;
        self
    }
    /// Sets the absolute and relative tolerances.
    pub fn with_tolerances(mut self, atol: f64, rtol: f64) -> Self {
        self.atol = atol;
        self.rtol = rtol;
        self
    }
}

/// What a passing [`gradcheck`] compared.
///
/// ```
/// use ferrite_autograd::{gradcheck, GradcheckOptions, Var};
/// use ferrite_tensor::Tensor;
/// let r = gradcheck(|v: &[Var<f64>]| v[0].exp(), &[Tensor::ones(&[2])], &GradcheckOptions::default())?;
/// assert_eq!(r.checked, 4); // a 2x2 Jacobian
/// # Ok::<(), ferrite_autograd::GradcheckError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// The op that produced the checked function's output.
    pub op: &'static str,
    /// Number of Jacobian entries compared.
    pub checked: usize,
    /// Largest `|analytical - numerical|` seen.
    pub max_abs_error: f64,
}

/// Why [`gradcheck`] failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GradcheckError {
    /// An analytical and a numerical Jacobian entry disagree.
    Mismatch {
        /// The op that produced the checked function's output.
        op: &'static str,
        /// Name of the input (or `input N`).
        input: String,
        /// Multi-index of the input element.
        input_index: Vec<usize>,
        /// Flat index of the output element.
        output_index: usize,
        /// d(output)/d(input) from `backward`.
        analytical: f64,
        /// The same from central differences.
        numerical: f64,
        /// 1 for [`gradcheck`], 2 for [`gradgradcheck`](crate::gradgradcheck) (the backward
        /// of the backward is wrong).
        order: u8,
        /// The values are projections `vᵀ·J·u` on random directions (fast mode, whole
        /// modules), not one Jacobian entry: `input_index` and `output_index` are unused.
        projection: bool,
    },
    /// The function itself failed.
    Op(TensorError),
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch {
                op,
                input,
                input_index,
                output_index,
                analytical,
                numerical,
                order,
                projection,
            } => {
                let double = if *order == 2 { "double " } else { "" };
                let at = if *projection {
                    "along a random direction (vᵀ·J·u)".to_string()
                } else {
                    format!("at index {input_index:?} (output element {output_index})")
                };
                write!(
                    f,
                    "gradcheck: {double}backward of '{op}' is wrong for {input} {at}: analytical {analytical:e}, numerical {numerical:e}"
                )
            }
            // Errors of gradcheck itself already start with "gradcheck: ".
            GradcheckError::Op(e) if e.op() == "gradcheck" => write!(f, "{e}"),
            GradcheckError::Op(e) => write!(f, "gradcheck: {e}"),
        }
    }
}

impl std::error::Error for GradcheckError {}

impl From<TensorError> for GradcheckError {
    fn from(e: TensorError) -> Self {
        GradcheckError::Op(e)
    }
}

/// Refuses options that make the comparison meaningless: a step that is not finite and
/// positive (the finite difference would divide by zero or be NaN), a tolerance that is
/// negative or not finite.
fn check_options(options: &GradcheckOptions) -> Result<(), TensorError> {
    if !(options.eps.is_finite() && options.eps > 0.0) {
        return Err(TensorError::invalid(
            "gradcheck",
            format!("expected a finite positive eps, found {}", options.eps),
        ));
    }
    for (name, value) in [("atol", options.atol), ("rtol", options.rtol)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(TensorError::invalid(
                "gradcheck",
                format!("expected a finite non-negative {name}, found {value}"),
            ));
        }
    }
    Ok(())
}

/// Refuses an evaluation of the function whose output shape is not the first one's.
fn check_shape(found: &[usize], expected: &[usize]) -> Result<(), TensorError> {
    if found != expected {
        return Err(TensorError::shape(
            "gradcheck",
            format!(
                "expected the function to return the same shape at every call, found \
                 {found:?} after {expected:?}"
            ),
        ));
    }
    Ok(())
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    idx
}

/// Checks the gradients of `f` with respect to every one of `inputs` in `f64`: the full
/// Jacobian from `backward` (one pass per output element) against central finite
/// differences, entry by entry, passing when `|a - n| <= atol + rtol * |n|`.
///
/// # Errors
/// The first disagreeing entry, naming the op, the input, the index and both values
/// ([`GradcheckError::Mismatch`]); or [`GradcheckError::Op`] with the error of `f` itself,
/// or (op `gradcheck`) when `inputs` is empty, `options.eps` is not finite and positive,
/// `options.atol` or `options.rtol` is negative or not finite, or `f` returns outputs of
/// different shapes from one call to the next.
///
/// ```
/// use ferrite_autograd::{gradcheck, GradcheckOptions, Var};
/// use ferrite_tensor::{seeded_rng, Tensor};
/// let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(0));
/// let w = Tensor::<f64>::randn(&[4, 3], &mut seeded_rng(1));
/// gradcheck(|v: &[Var<f64>]| v[0].linear(&v[1], None), &[x, w], &GradcheckOptions::default())?;
/// # Ok::<(), ferrite_autograd::GradcheckError>(())
/// ```
pub fn gradcheck(
    f: impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckError> {
    check_options(options)?;
    if inputs.is_empty() {
        return Err(TensorError::invalid(
            "gradcheck",
            "expected at least one input to check the gradient of, found none",
        )
        .into());
    }
    let reference = f(&inputs
        .iter()
        .map(|t| Var::parameter(t.clone()))
        .collect::<Vec<_>>())?;
    let op = reference.op();
    let out_shape = reference.shape();
    if options.check_batched_grad {
        batched_check(&f, inputs, options, op, &out_shape)?;
    }
    if options.fast_mode {
        return fast_check(&f, inputs, options, op, &out_shape);
    }
    let analytical = analytical_jacobian(&f, inputs, &out_shape)?;
    let mut report = GradcheckReport {
        op,
        checked: 0,
        max_abs_error: 0.0,
    };
    for (i, columns) in analytical.iter().enumerate() {
        let (checked, max_abs_error) = compare_input(&f, inputs, i, columns, options, op)?;
        report.checked += checked;
        report.max_abs_error = report.max_abs_error.max(max_abs_error);
    }
    Ok(report)
}

/// Compares input `i`'s analytical Jacobian columns with central differences, element by
/// element; returns how many entries were compared and the largest error.
fn compare_input(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    i: usize,
    columns: &[Vec<f64>],
    options: &GradcheckOptions,
    op: &'static str,
) -> Result<(usize, f64), GradcheckError> {
    let out_shape = f(&inputs
        .iter()
        .map(|t| Var::new(t.clone()))
        .collect::<Vec<_>>())?
    .shape();
    let (mut checked, mut max_abs_error) = (0, 0.0f64);
    for (k, column) in columns.iter().enumerate() {
        let plus = perturbed_output(f, inputs, i, k, options.eps, &out_shape)?;
        let minus = perturbed_output(f, inputs, i, k, -options.eps, &out_shape)?;
        for (j, (p, m)) in plus.iter().zip(&minus).enumerate() {
            let numerical = (p - m) / (2.0 * options.eps);
            let a = column[j];
            let err = (a - numerical).abs();
            max_abs_error = max_abs_error.max(err);
            checked += 1;
            if err > options.atol + options.rtol * numerical.abs() || err.is_nan() {
                return Err(GradcheckError::Mismatch {
                    op,
                    input: input_name(options, i),
                    input_index: unravel(k, inputs[i].shape()),
                    output_index: j,
                    analytical: a,
                    numerical,
                    order: 1,
                    projection: false,
                });
            }
        }
    }
    Ok((checked, max_abs_error))
}

/// How many grad_outputs [`batched_check`] draws.
const GRAD_BATCH: usize = 3;

/// The batched-gradient check (see [`GradcheckOptions::check_batched_grad`]).
fn batched_check(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
    op: &'static str,
    out_shape: &[usize],
) -> Result<(), GradcheckError> {
    let mut rng = seeded_rng(0xba7c);
    let vs: Vec<Tensor<f64>> = (0..GRAD_BATCH)
        .map(|_| Tensor::randn(out_shape, &mut rng))
        .collect();
    let one_at_a_time = |v: &Tensor<f64>| -> Result<Vec<Tensor<f64>>, TensorError> {
        let params: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
        gradients(&f(&params)?, &params, v, false)
    };
    let params: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let shared = f(&params)?;
    let mut total = Tensor::zeros(out_shape);
    let mut expected_total: Vec<Tensor<f64>> =
        inputs.iter().map(|t| Tensor::zeros(t.shape())).collect();
    for (b, v) in vs.iter().enumerate() {
        let at_once = gradients(&shared, &params, v, true)?;
        let alone = one_at_a_time(v)?;
        compare_batched(&at_once, &alone, options, op, b)?;
        total = total.add(v)?;
        for (acc, g) in expected_total.iter_mut().zip(&alone) {
            *acc = acc.add(g)?;
        }
    }
    let summed = gradients(&shared, &params, &total, true)?;
    compare_batched(&summed, &expected_total, options, op, GRAD_BATCH)
}

/// The gradients of `out` for `grad_output` `v` with respect to each of `params` (zeros
/// where unused), keeping the graph when `retain`.
fn gradients(
    out: &Var<f64>,
    params: &[Var<f64>],
    v: &Tensor<f64>,
    retain: bool,
) -> Result<Vec<Tensor<f64>>, TensorError> {
    if !out.requires_grad() {
        return Ok(params.iter().map(|p| Tensor::zeros(&p.shape())).collect());
    }
    let options = crate::GradOptions::default()
        .with_retain_graph(retain)
        .with_allow_unused(true);
    let grads = crate::grad(
        std::slice::from_ref(out),
        params,
        Some(&[Var::new(v.clone())]),
        &options,
    )?;
    Ok((grads.into_iter().zip(params))
        .map(|(g, p)| g.map_or_else(|| Tensor::zeros(&p.shape()), |g| g.value()))
        .collect())
}

/// Compares the gradients computed on the shared graph (`at_once`) with those of fresh
/// passes (`alone`) for grad_output `b` of the batch (`b = GRAD_BATCH`: their sum).
fn compare_batched(
    at_once: &[Tensor<f64>],
    alone: &[Tensor<f64>],
    options: &GradcheckOptions,
    op: &'static str,
    b: usize,
) -> Result<(), GradcheckError> {
    for (i, (a, e)) in at_once.iter().zip(alone).enumerate() {
        for (k, (x, y)) in a.to_vec().into_iter().zip(e.to_vec()).enumerate() {
            let err = (x - y).abs();
            if err > options.atol + options.rtol * y.abs() || err.is_nan() {
                let which = if b == GRAD_BATCH {
                    "the sum of the batch".to_string()
                } else {
                    format!("grad_output {b} of {GRAD_BATCH}")
                };
                return Err(GradcheckError::Mismatch {
                    op,
                    input: format!(
                        "{} (batched grad: {which} on one retained graph vs a fresh pass)",
                        input_name(options, i)
                    ),
                    input_index: unravel(k, a.shape()),
                    output_index: b,
                    analytical: x,
                    numerical: y,
                    order: 1,
                    projection: false,
                });
            }
        }
    }
    Ok(())
}

fn input_name(options: &GradcheckOptions, i: usize) -> String {
    (options.input_names.get(i).cloned()).unwrap_or_else(|| format!("input {i}"))
}

/// The fast mode: for each input `i`, `vᵀ·J_i·u_i` by one backward (with `grad_output` `v`)
/// against the central difference of `vᵀ·f` along `u_i`, with `u`, `v` fixed random
/// directions. On a disagreement, the full check of that input finds the element.
fn fast_check(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
    op: &'static str,
    out_shape: &[usize],
) -> Result<GradcheckReport, GradcheckError> {
    let v = Tensor::<f64>::randn(out_shape, &mut seeded_rng(0x5eed));
    let params: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let out = f(&params)?;
    if out.requires_grad() {
        out.backward_with(&v)?;
    }
    let mut max_abs_error = 0.0f64;
    for (i, input) in inputs.iter().enumerate() {
        let u = Tensor::<f64>::randn(input.shape(), &mut seeded_rng(0x5eed + 1 + i as u64));
        let grad = params[i]
            .grad()
            .unwrap_or_else(|| Tensor::zeros(input.shape()));
        let analytical = dot(&grad.to_vec(), &u.to_vec());
        let along = |delta: f64| -> Result<f64, GradcheckError> {
            let moved = input.add(&u.mul_scalar(delta))?;
            let mut vars: Vec<Var<f64>> = inputs.iter().map(|t| Var::new(t.clone())).collect();
            vars[i] = Var::new(moved);
            let y = no_grad(|| f(&vars))?.value();
            check_shape(y.shape(), out_shape)?;
            Ok(dot(&y.to_vec(), &v.to_vec()))
        };
        let numerical = (along(options.eps)? - along(-options.eps)?) / (2.0 * options.eps);
        let err = (analytical - numerical).abs();
        max_abs_error = max_abs_error.max(err);
        if err > options.atol + options.rtol * numerical.abs() || err.is_nan() {
            let columns = analytical_jacobian(f, inputs, out_shape)?;
            compare_input(f, inputs, i, &columns[i], options, op)?;
            // The projection disagrees although no single entry does beyond tolerance.
            return Err(GradcheckError::Mismatch {
                op,
                input: input_name(options, i),
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
        checked: inputs.len(),
        max_abs_error,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `d out[j] / d inputs[i][k]` by backward, one output element `j` at a time:
/// `result[i][k][j]`.
fn analytical_jacobian(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    out_shape: &[usize],
) -> Result<Vec<Vec<Vec<f64>>>, GradcheckError> {
    let m: usize = out_shape.iter().product();
    let mut analytical: Vec<Vec<Vec<f64>>> = inputs
        .iter()
        .map(|t| vec![vec![0.0; m]; t.numel()])
        .collect();
    for j in 0..m {
        let params: Vec<Var<f64>> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
        let out = f(&params)?;
        check_shape(&out.shape(), out_shape)?;
        if !out.requires_grad() {
            continue;
        }
        let mut onehot = vec![0.0; m];
        onehot[j] = 1.0;
        out.backward_with(&Tensor::from_vec(onehot, out_shape)?)?;
        for (i, p) in params.iter().enumerate() {
            if let Some(g) = p.grad() {
                for (k, v) in g.to_vec().into_iter().enumerate() {
                    analytical[i][k][j] = v;
                }
            }
        }
    }
    Ok(analytical)
}

/// `f`'s output (flattened, under `no_grad`) with element `k` of input `i` moved by `delta`.
fn perturbed_output(
    f: &impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: &[Tensor<f64>],
    i: usize,
    k: usize,
    delta: f64,
    out_shape: &[usize],
) -> Result<Vec<f64>, GradcheckError> {
    let mut data = inputs[i].to_vec();
    data[k] += delta;
    let mut vars: Vec<Var<f64>> = inputs.iter().map(|t| Var::new(t.clone())).collect();
    vars[i] = Var::new(Tensor::from_vec(data, inputs[i].shape())?);
    let out = no_grad(|| f(&vars))?.value();
    check_shape(out.shape(), out_shape)?;
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_wrong_backward() {
        // y = x^2 with a deliberately wrong derivative (x instead of 2x).
        let wrong_square = |v: &[Var<f64>]| {
            let x = v[0].value();
            Var::from_op("wrong_square", x.mul(&x)?, &[&v[0]], move |g, grads| {
                grads.set(0, || g.mul(&x))
            })
        };
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let err = gradcheck(
            wrong_square,
            &[x],
            &GradcheckOptions::default().with_input_names(&["x"]),
        )
        .unwrap_err();
        match &err {
            GradcheckError::Mismatch {
                op,
                input,
                input_index,
                analytical,
                numerical,
                ..
            } => {
                assert_eq!(*op, "wrong_square");
                assert_eq!(input, "x");
                assert_eq!(input_index, &vec![0]);
                assert!((analytical - 1.0).abs() < 1e-12);
                assert!((numerical - 2.0).abs() < 1e-6);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(err.to_string().contains("wrong_square"));
    }

    #[test]
    fn refuses_nonsense_options_and_no_inputs() {
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let square = |v: &[Var<f64>]| v[0].mul(&v[0]);
        let d = GradcheckOptions::default();
        for (options, message) in [
            (
                d.clone().with_eps(0.0),
                "expected a finite positive eps, found 0",
            ),
            (
                d.clone().with_eps(-1e-6),
                "expected a finite positive eps, found -0.000001",
            ),
            (
                d.clone().with_eps(f64::NAN),
                "expected a finite positive eps, found NaN",
            ),
            (
                d.clone().with_eps(f64::INFINITY),
                "expected a finite positive eps, found inf",
            ),
            (
                d.clone().with_tolerances(-1.0, 1e-3),
                "expected a finite non-negative atol, found -1",
            ),
            (
                d.clone().with_tolerances(f64::NAN, 1e-3),
                "expected a finite non-negative atol, found NaN",
            ),
            (
                d.clone().with_tolerances(1e-5, -1.0),
                "expected a finite non-negative rtol, found -1",
            ),
            (
                d.clone().with_tolerances(1e-5, f64::NAN),
                "expected a finite non-negative rtol, found NaN",
            ),
        ] {
            let err = gradcheck(square, std::slice::from_ref(&x), &options).unwrap_err();
            assert!(
                matches!(&err, GradcheckError::Op(e) if e.op() == "gradcheck"),
                "{err:?}"
            );
            assert_eq!(err.to_string(), format!("gradcheck: {message}"));
        }
        let err =
            gradcheck(|_: &[Var<f64>]| Ok(Var::new(Tensor::scalar(1.0))), &[], &d).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gradcheck: expected at least one input to check the gradient of, found none"
        );
    }

    #[test]
    fn refuses_a_function_whose_output_shape_changes() {
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let err = gradcheck(
            |v: &[Var<f64>]| {
                if crate::is_grad_enabled() {
                    v[0].mul_scalar(1.0)
                } else {
                    v[0].narrow(0, 0, 1)
                }
            },
            &[x],
            &GradcheckOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "gradcheck: expected the function to return the same shape at every call, found [1] after [2]"
        );
    }

    #[test]
    fn passes_a_right_backward() {
        let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]).unwrap();
        let r = gradcheck(
            |v: &[Var<f64>]| v[0].mul(&v[0]),
            &[x],
            &GradcheckOptions::default(),
        )
        .unwrap();
        assert_eq!(r.checked, 9);
        assert!(r.max_abs_error < 1e-8);
    }
}
