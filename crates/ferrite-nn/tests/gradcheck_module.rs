//! `gradcheck_module`: whole models against finite differences, and the layer at fault named.

use ferrite_autograd::{GradcheckError, GradcheckOptions, Var};
use ferrite_nn::{Module, ModuleExt, Sequential, Tanh, gradcheck_module, models};
use ferrite_tensor::{Result, Tensor, seeded_rng};

/// y = x² whose backward forgets the factor 2: a test-only op with a wrong gradient.
struct BrokenSquare;

impl Module<f64> for BrokenSquare {
    fn forward(&self, x: &Var<f64>) -> Result<Var<f64>> {
        let xv = x.value();
        Var::from_op("broken_square", xv.mul(&xv)?, &[x], move |g, grads| {
            grads.set(0, || g.mul(&xv))
        })
    }
}

/// y = x · w with a wrong gradient for `w` only.
struct BrokenScale {
    weight: Var<f64>,
}

impl Module<f64> for BrokenScale {
    fn forward(&self, x: &Var<f64>) -> Result<Var<f64>> {
        let (xv, wv) = (x.value(), self.weight.value());
        let shape = wv.shape().to_vec();
        Var::from_op(
            "broken_scale",
            xv.mul(&wv)?,
            &[x, &self.weight],
            move |g, grads| {
                grads.set(0, || g.mul(&wv))?;
                grads.set(1, || Ok(g.mul(&xv)?.sum_to(&shape)?.mul_scalar(1.5)))
            },
        )
    }

    fn own_parameters(&self) -> Vec<(String, Var<f64>)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}

#[test]
fn small_cnn_passes_and_is_left_as_it_was() {
    ferrite_tensor::manual_seed(0);
    let model = models::small_cnn::<f64>([28, 28]).unwrap();
    let x = Tensor::<f64>::randn(&[2, 1, 28, 28], &mut seeded_rng(1));
    let before: Vec<Vec<f64>> = model
        .parameters()
        .iter()
        .map(|p| p.value().to_vec())
        .collect();
    let report = gradcheck_module(&model, &x, &GradcheckOptions::default()).unwrap();
    assert_eq!(report.checked, 1 + model.parameters().len());
    let after: Vec<Vec<f64>> = model
        .parameters()
        .iter()
        .map(|p| p.value().to_vec())
        .collect();
    assert_eq!(before, after);
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn a_wrong_input_gradient_inside_a_sequential_is_named_with_its_layer_and_op() {
    let model = Sequential::<f64>::new()
        .append(Tanh)
        .append(BrokenSquare)
        .append(Tanh);
    let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(2));
    let e = gradcheck_module(&model, &x, &GradcheckOptions::default()).unwrap_err();
    let GradcheckError::Mismatch { op, input, .. } = &e else {
        panic!("expected a mismatch, found {e}");
    };
    assert_eq!(*op, "broken_square");
    assert_eq!(input, "input of 1 (BrokenSquare)");
    assert!(
        e.to_string()
            .contains("backward of 'broken_square' is wrong for input of 1 (BrokenSquare) along a random direction"),
        "{e}"
    );
}

#[test]
fn a_wrong_parameter_gradient_is_named_with_the_parameter() {
    let weight = Var::parameter(Tensor::<f64>::randn(&[3], &mut seeded_rng(3)));
    let model = Sequential::<f64>::new()
        .append(Tanh)
        .append(BrokenScale { weight });
    let x = Tensor::<f64>::randn(&[2, 3], &mut seeded_rng(4));
    let e = gradcheck_module(&model, &x, &GradcheckOptions::default()).unwrap_err();
    let GradcheckError::Mismatch { op, input, .. } = &e else {
        panic!("expected a mismatch, found {e}");
    };
    assert_eq!(
        (*op, input.as_str()),
        ("broken_scale", "weight of 1 (BrokenScale)")
    );
}
