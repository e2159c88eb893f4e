//! Alert rule files (Prometheus's format): the rules mlsteward evaluates itself for the
//! overview page ([`crate::derive::page`]).

/// One alerting rule: its name, expression and `severity` label.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    pub severity: Option<String>,
}

/// Every alerting rule of a rule file, in order (recording rules left out).
pub fn alert_rules(text: &str) -> Result<Vec<AlertRule>, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for doc in &docs {
        for group in doc["groups"].as_vec().into_iter().flatten() {
            for rule in group["rules"].as_vec().into_iter().flatten() {
                let (Some(name), Some(expr)) = (rule["alert"].as_str(), rule["expr"].as_str())
                else {
                    continue;
                };
                out.push(AlertRule {
                    name: name.to_string(),
                    expr: expr.to_string(),
                    severity: rule["labels"]["severity"].as_str().map(String::from),
                });
            }
        }
    }
    Ok(out)
}
