//! The numbered tutorial examples (`examples/0*_*.rs`) run as tests: each file is compiled
//! in here as a module and its `pub fn main` must succeed, so the README's test command
//! keeps the tutorial working. (`04_train_lenet` and `06_layers` train for half a minute: `tests/training.rs` covers
//! training, and `06_layers`' model is checked here for one step.)

#[path = "../examples/01_tensors.rs"]
mod ex01_tensors;
#[path = "../examples/02_autograd.rs"]
mod ex02_autograd;
#[path = "../examples/03_conv1.rs"]
mod ex03_conv1;
#[path = "../examples/05_custom_module.rs"]
mod ex05_custom_module;
#[path = "../examples/06_layers.rs"]
#[allow(dead_code)] // its `main` trains for half a minute and is not called here
mod ex06_layers;

#[test]
fn example_01_tensors_runs() {
    ex01_tensors::main().expect("01_tensors");
}

#[test]
fn example_02_autograd_runs_and_writes_the_conv1_graph() {
    ex02_autograd::main().expect("02_autograd");
    // The example writes relative to the working directory, which for tests is the
    // package root.
    let dot = std::fs::read_to_string("runs/02_autograd/graph.dot").expect("graph.dot");
    assert!(dot.starts_with("digraph autograd {"), "{dot}");
    for label in [
        r#"label="input\n[1, 1, 9, 9]""#,
        r#"label="conv1.weight\n[1, 1, 3, 3]""#,
        r#"label="conv1.bias\n[1]""#,
        r#"label="conv2d\n[1, 1, 4, 4]""#,
        r#"label="relu\n[1, 1, 4, 4]""#,
        r#"label="sum\n[]""#,
    ] {
        assert!(dot.contains(label), "no {label} in\n{dot}");
    }
    assert_eq!(dot.matches(" [label=").count(), 6, "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 5, "{dot}");
}

#[test]
fn example_03_conv1_runs() {
    ex03_conv1::main().expect("03_conv1");
}

#[test]
fn example_05_custom_module_runs() {
    ex05_custom_module::main().expect("05_custom_module");
}

#[test]
fn example_06_layers_model_takes_any_image_size_and_learns_a_batch() {
    use ferrite::prelude::*;
    manual_seed(0);
    let model = ex06_layers::model();
    let mut opt = Adam::new(model.parameters(), AdamConfig::adamw(1e-2)).unwrap();
    let x = Var::new(Tensor::<f32>::randn(&[8, 1, 28, 28], &mut seeded_rng(1)));
    let y = Indices::from_classes(&[0, 1, 2, 3, 4, 5, 6, 7]);
    let mut losses = Vec::new();
    for _ in 0..5 {
        let loss = cross_entropy(
            &model.forward(&x).unwrap(),
            &y,
            &CrossEntropyOptions::default(),
        )
        .unwrap();
        losses.push(loss.value().item().unwrap());
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
    }
    assert!(losses[4] < losses[0] - 0.2, "{losses:?}");
    // The global-average-pool head: a 40x36 image gives 10 logits too.
    let big = Var::new(Tensor::<f32>::zeros(&[2, 1, 40, 36]));
    assert_eq!(
        no_grad(|| model.forward(&big)).unwrap().shape(),
        vec![2, 10]
    );
}
