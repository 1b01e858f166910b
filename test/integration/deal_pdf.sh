#!/usr/bin/env bash
# R14: the print forms are real PDFs.  The commercial proposal and the invoice
# for payment of a known deal are made by the manager (under row-level
# security), then read back as a reader would: pdftotext finds the company
# header, the client, the needs, the parameters, every line with its prices,
# the totals (computed here from the fixture, not by crm), the amount in
# words, the terms, the validity and the manager -- all in Cyrillic; the
# fonts are embedded and mapped to Unicode; words are drawn with ink; a long
# deal spills over pages; the page renders to PNG.  Then the refusals, each
# with its SQLSTATE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=crm_deal_pdf
out=$CRM_TEST_WORK/deal_pdf
mkdir -p "$out"
q() { psql -X -q -v ON_ERROR_STOP=1 -d $db "$@"; }
cleanup() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  for r in dfx_head dfx_mgr dfx_other; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
q -c "CREATE EXTENSION crm"
q -f "$here/deal_fixture.sql" >/dev/null

deal=$(q -At -c "SELECT id FROM crm.deal WHERE title = 'Климатест: насосная станция'")
invoice=$(q -At -c "SELECT id FROM crm.document WHERE deal_id = $deal AND kind = 'invoice'")
# what the forms must say about numbers and dates, from the database's calendar
read -r year today valid long <<<"$(q -At -F ' ' -c "SELECT extract(year FROM current_date),
  to_char(current_date, 'DD.MM.YYYY'), to_char(current_date + 30, 'DD.MM.YYYY'), replace(crm.date_long(current_date), ' ', '_')")"
long=${long//_/ }

# the manager makes them, through row-level security
pdf() {  # role, sql, file
  q -At -c "SET ROLE $1" -c "SELECT encode($2, 'base64')" | base64 -d >"$3"
}
pdf dfx_mgr "crm.proposal_pdf($deal)" "$out/proposal.pdf"
pdf dfx_mgr "crm.invoice_pdf($invoice)" "$out/invoice.pdf"
# the head of the department prints them too
pdf dfx_head "crm.proposal_pdf($deal)" "$out/proposal-head.pdf"
cmp -s <(pdftotext "$out/proposal.pdf" - 2>/dev/null) <(pdftotext "$out/proposal-head.pdf" - 2>/dev/null)

cat >"$out/proposal.txt" <<TXT
ООО «Счётприбор» ее
ИНН 7707083893, КПП 772801001, ОГРН 1027700132195
142100, г. Подольск, ул. Лётная, д. 12; тел. +7 495 100-00-00; e-mail: sales@pumpmash.example; pumpmash.example
Коммерческое предложение № КП-$year-00001 от $today
Кому: АО «Климатест», ИНН 7707083893, КПП 770701001, Москва, Научный проезд, 8
Контактное лицо: Андрей Белов, +7 916 210-33-44, belov@klimatest.example
Потребность клиента
Насосы для ёмкостей: ее
Область применения: оборотное водоснабжение
Тип оборудования: Насосы
Обрабатываемые материалы: вода техническая, до 40 °C
1 Насос ЦНС 38-44 2 шт 285 000,00 20% 570 000,00 684 000,00
Поставка: со склада, 5 дней
2 Уплотнение торцевое для ЦНС 38 4 шт 8 400,00 20% 33 600,00 40 320,00
3 Масло компрессорное КС-19, 20 л 3 канистра 9 800,00 20% 29 400,00 35 280,00
Итого без НДС: 633 000,00
НДС: 126 600,00
Всего с НДС, ₽: 759 600,00
Всего наименований 3, на сумму 759 600,00 руб.
Сумма прописью: Семьсот пятьдесят девять тысяч шестьсот рублей 00 копеек
Оплата: 50% предоплата, 50% по факту отгрузки
Поставка: самовывоз со склада в Подольске
Срок действия предложения: до $valid
Ответственный менеджер: Роман Соловьёв, тел. +7 495 100-00-50, e-mail: solovyov@pumpmash.example
страница 1 из 1
TXT
cat >"$out/invoice.txt" <<TXT
ПАО Сбербанк БИК 044525225
Сч. № 30101810400000000225
ИНН 7707083893 КПП 772801001 Сч. № 40702810500000001234
Получатель
Счёт на оплату № СЧ-$year-00001 от $long
Поставщик: ООО «Счётприбор» ее, ИНН 7707083893, КПП 772801001, 142100, г. Подольск, ул. Лётная, д. 12, тел. +7 495 100-00-00
Покупатель: АО «Климатест», ИНН 7707083893, КПП 770701001, Москва, Научный проезд, 8
Основание: Коммерческое предложение № КП-$year-00001 от $today
1 Насос ЦНС 38-44 2 шт 285 000,00 20% 570 000,00 684 000,00
Итого без НДС: 633 000,00
НДС: 126 600,00
Всего с НДС, ₽: 759 600,00
Сумма прописью: Семьсот пятьдесят девять тысяч шестьсот рублей 00 копеек
Условия оплаты: 50% предоплата, 50% по факту отгрузки
Руководитель ____________ Смирнова К. А.
Бухгалтер ____________ Орлова Н. В.
TXT
"$here/deal_pdf_check.py" "$out/proposal.pdf" "$out/proposal.txt" --pages 1 --ink ее «Счётприбор»
"$here/deal_pdf_check.py" "$out/invoice.pdf" "$out/invoice.txt" --pages 1 --ink ее Счёт

# a long deal without a proposal yet: a draft over several pages, the table
# header repeated, every line there once
q >/dev/null <<SQL
INSERT INTO crm.product (sku, name, list_price)
SELECT 'DFX-L' || i, format('Позиция %s: камера тепла-холода КТК-800 с расширенным диапазоном температур от −70 до +180 °C', lpad(i::text, 2, '0')), 1000 * i
  FROM generate_series(1, 60) i;
SELECT crm.create_deal(c.id, 'Оснащение испытательного центра', title => 'Климатест: испытательный центр')
  FROM crm.counterparty c WHERE c.name = 'Климатест';
SELECT crm.add_deal_line(d.id, p.id, 1) FROM crm.deal d, crm.product p
 WHERE d.title = 'Климатест: испытательный центр' AND p.sku LIKE 'DFX-L%';
SQL
deal2=$(q -At -c "SELECT id FROM crm.deal WHERE title = 'Климатест: испытательный центр'")
pdf dfx_mgr "crm.proposal_pdf($deal2)" "$out/draft.pdf"
# 60 lines of 1000..60000 without VAT: 1 830 000,00; with 20% VAT 2 196 000,00
{
  echo "Коммерческое предложение (проект) от $today"
  echo "Итого без НДС: 1 830 000,00"
  echo "Всего с НДС, ₽: 2 196 000,00"
  echo "Сумма прописью: Два миллиона сто девяносто шесть тысяч рублей 00 копеек"
} >"$out/draft.txt"
"$here/deal_pdf_check.py" "$out/draft.pdf" "$out/draft.txt"
pages=$(pdfinfo "$out/draft.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')
[ "$pages" -ge 3 ] || { echo "FAIL: 60 lines on $pages page(s)"; exit 1; }
text=$(pdftotext "$out/draft.pdf" - 2>/dev/null)
for i in $(seq -w 1 60); do
  n=$(grep -c "Позиция $i:" <<<"$text" || true)
  [ "$n" = 1 ] || { echo "FAIL: line $i appears $n times"; exit 1; }
done
headers=$(grep -c "^Наименование$" <<<"$text" || true)
[ "$headers" = "$pages" ] || { echo "FAIL: table header on $headers of $pages pages"; exit 1; }
grep -q "страница $pages из $pages" <<<"$text" || { echo "FAIL: no page numbering"; exit 1; }
echo "ok: draft of 60 lines on $pages pages, header on each"

# a picture of the page
pdftoppm -r 60 -png -f 1 -l 1 "$out/proposal.pdf" "$out/proposal" 2>/dev/null
[ "$(stat -c %s "$out/proposal-1.png")" -gt 10000 ] || { echo "FAIL: empty page image"; exit 1; }
echo "ok: page 1 renders to PNG"

# refusals, each with its SQLSTATE
expect() {  # want, role, sql
  local got
  got=$(q -At -c "SET ROLE $2" -c "SET client_min_messages = notice" \
          -c "DO \$\$ BEGIN PERFORM $3; RAISE NOTICE 'result=ok'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'result=%', SQLSTATE; END \$\$" 2>&1 |
        sed -n 's/.*result=\([0-9A-Za-z]*\).*/\1/p')
  [ "$got" = "$1" ] || { echo "FAIL: $3 as $2: $got, expected $1"; exit 1; }
  echo "ok: $3 as $2 -> $got"
}
expect P0002 dfx_other "crm.proposal_pdf($deal)"
expect P0002 dfx_other "crm.invoice_pdf($invoice)"
expect P0002 dfx_mgr "crm.proposal_pdf(-1)"
expect P0002 dfx_mgr "crm.invoice_pdf((SELECT id FROM crm.document WHERE kind = 'proposal' AND deal_id = $deal))"
cert=$(q -At -c "SELECT crm.create_document($deal2, 'certificate', external_number => 'РОСС RU.1', issuer => 'ОС', valid_until => current_date + 1)")
expect 0A000 dfx_mgr "crm.document_pdf($cert)"
expect 58P01 postgres "set_config('crm.pdf_font', '/nonexistent/font.ttf', true) || crm.proposal_pdf($deal)::text"
# without the company's own requisites there is no form
got=$(q -At -c "BEGIN" -c "DELETE FROM crm.company" -c "SET client_min_messages = notice" \
        -c "DO \$\$ BEGIN PERFORM crm.proposal_pdf($deal); RAISE NOTICE 'result=ok'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'result=%', SQLSTATE; END \$\$" \
        -c "ROLLBACK" 2>&1 | sed -n 's/.*result=\([0-9A-Za-z]*\).*/\1/p')
[ "$got" = 55000 ] || { echo "FAIL: no company gave $got, expected 55000"; exit 1; }
echo "ok: no company requisites -> 55000"
# ... and the refusals changed nothing
[ "$(q -At -c "SELECT count(*) FROM crm.company")" = 1 ]
echo "deal_pdf: all checks passed"
