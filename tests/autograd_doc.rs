//! The Hessian-vector product and the gradient penalty of `docs/autograd.md`, checked
//! against PyTorch's float64 numbers in `tests/fixtures/autograd_doc.json` (written by
//! `tests/fixtures/autograd_doc.py`) to a relative 1e-9.

use ferrite::prelude::*;
use ferrite::tensor::Conv2dParams;
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/autograd_doc.json");
    serde_json::from_str(text).expect("autograd_doc.json")
}

/// A tensor whose element `i` (row-major) is `f(i)`: the inputs are formulas, the same as in
/// the generator, so no random generator has to match PyTorch's.
fn filled(shape: &[usize], f: impl Fn(f64) -> f64) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| f(i as f64)).collect(), shape).expect("shape")
}

fn close(what: &str, got: &Tensor<f64>, want: &Value) {
    let want_shape: Vec<usize> = (want["shape"].as_array().expect("shape").iter())
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    assert_eq!(got.shape(), want_shape.as_slice(), "{what}: shape");
    let data = want["data"].as_array().expect("data");
    for (i, (g, w)) in got.to_vec().iter().zip(data).enumerate() {
        let w = w.as_f64().expect("number");
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}[{i}]: ferrite {g}, PyTorch {w}"
        );
    }
}

fn scalar(what: &str, got: &Var<f64>, want: &Value) {
    let (g, w) = (got.item().expect("scalar"), want.as_f64().expect("number"));
    assert!(
        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        "{what}: ferrite {g}, PyTorch {w}"
    );
}

#[test]
fn hessian_vector_product_matches_pytorch() -> Result<(), TensorError> {
    let want = &fixture()["hessian_vector_product"];
    let x = Var::new(filled(&[3, 2], |i| (0.9 * i + 0.3).sin()));
    let y = Var::new(filled(&[3, 1], |i| (1.3 * i).cos()));
    let w1 = Var::parameter(filled(&[4, 2], |i| 0.5 * (0.7 * i + 1.0).cos()));
    let w2 = Var::parameter(filled(&[1, 4], |i| 0.4 * (1.1 * i - 0.5).sin()));
    let v1 = Var::new(filled(&[4, 2], |i| (0.37 * i + 2.0).sin()));
    let v2 = Var::new(filled(&[1, 4], |i| (0.53 * i - 1.0).cos()));
    let prediction = x.linear(&w1, None)?.tanh()?.linear(&w2, None)?;
    let loss = prediction.mse_loss(&y, Reduction::Mean)?;
    let params = [w1.clone(), w2.clone()];
    let create = GradOptions::default().with_create_graph(true);
    let g = ferrite::autograd::grad(std::slice::from_ref(&loss), &params, None, &create)?;
    let (g1, g2) = (g[0].clone().expect("g1"), g[1].clone().expect("g2"));
    let dot = g1.mul(&v1)?.sum_all()?.add(&g2.mul(&v2)?.sum_all()?)?;
    let h = ferrite::autograd::grad(&[dot], &params, None, &GradOptions::default())?;
    scalar("loss", &loss, &want["loss"]);
    close("grad_w1", &g1.value(), &want["grad_w1"]);
    close("grad_w2", &g2.value(), &want["grad_w2"]);
    close(
        "hvp_w1",
        &h[0].as_ref().expect("h1").value(),
        &want["hvp_w1"],
    );
    close(
        "hvp_w2",
        &h[1].as_ref().expect("h2").value(),
        &want["hvp_w2"],
    );
    Ok(())
}

#[test]
fn gradient_penalty_matches_pytorch() -> Result<(), TensorError> {
    let want = &fixture()["gradient_penalty"];
    let x = Var::parameter(filled(&[2, 1, 4, 4], |i| (0.7 * i).sin()));
    let w = Var::parameter(filled(&[2, 1, 3, 3], |i| 0.4 * (0.3 * i + 1.0).cos()));
    let b = Var::parameter(filled(&[2], |i| 0.1 * (i + 1.0)));
    let lw = Var::parameter(filled(&[1, 8], |i| 0.3 * (0.8 * i + 0.2).sin()));
    let lb = Var::parameter(filled(&[1], |_| 0.05));
    let conv = Conv2dParams::default().with_padding(1);
    let pool = ferrite::tensor::Pool2dParams::new(2);
    let h = x.conv2d(&w, Some(&b), &conv)?.tanh()?;
    let critic = h
        .avg_pool2d(&pool)?
        .flatten(1, -1)?
        .linear(&lw, Some(&lb))?;
    let create = GradOptions::default().with_create_graph(true);
    let gx = ferrite::autograd::grad(
        &[critic.sum_all()?],
        std::slice::from_ref(&x),
        None,
        &create,
    )?;
    let gx = gx[0].clone().expect("grad x");
    let norms = gx.reshape(&[2, -1])?.pow(2.0)?.sum(&[1], false)?.sqrt()?;
    let penalty = norms.sub_scalar(1.0)?.pow(2.0)?.mean(&[], false)?;
    let params = [w, b, lw, lb];
    let unused = GradOptions::default().with_allow_unused(true);
    let grads = ferrite::autograd::grad(std::slice::from_ref(&penalty), &params, None, &unused)?;
    close("critic", &critic.value(), &want["critic"]);
    close("grad_x", &gx.value(), &want["grad_x"]);
    close("norms", &norms.value(), &want["norms"]);
    scalar("penalty", &penalty, &want["penalty"]);
    let names = ["grad_weight", "grad_bias", "grad_linear_weight"];
    for (name, g) in names.iter().zip(&grads) {
        close(name, &g.as_ref().expect("used").value(), &want[*name]);
    }
    assert!(grads[3].is_none(), "the linear bias does not change ∇ₓ D");
    Ok(())
}
